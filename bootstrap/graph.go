package bootstrap

import (
	"container/heap"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/switchyard-dev/switchyard/strategy"
)

// edge says that an object waits for another, and why.
type edge struct {
	to  int
	why string
}

// graph is a bundle's objects and what each waits for. Objects are
// identified by their index in the bundle.
type graph struct {
	objs       []*unstructured.Unstructured
	refs       []Ref
	index      map[Ref]int
	deps       [][]edge // deps[i]: what i waits for
	dependents [][]int  // dependents[i]: what waits for i
	// order lists the objects so that each comes after everything it
	// waits for; among those free to go, the bundle's order decides.
	order []int
}

// buildGraph infers the edges of objs (normalized: namespaced objects have
// their namespace, cluster-scoped ones none), adds the explicit ones and
// sorts the result. Problems go to v: duplicates, bad or dangling
// dependencies, cycles.
func buildGraph(objs []*unstructured.Unstructured, explicit []Dependency, v *strategy.Validator) *graph {
	g := &graph{objs: objs, refs: make([]Ref, len(objs)), index: map[Ref]int{},
		deps: make([][]edge, len(objs)), dependents: make([][]int, len(objs))}
	for i, o := range objs {
		r := RefOf(o)
		g.refs[i] = r
		if j, dup := g.index[r]; dup {
			v.Add(objPath(i), r.String(), "appears twice in the bundle (first as release.objects[%d])", j)
			continue
		}
		g.index[r] = i
	}
	g.infer()
	for i, o := range objs {
		value, ok := o.GetAnnotations()[AnnotationDependsOn]
		if !ok {
			continue
		}
		path := objPath(i) + ".metadata.annotations[" + AnnotationDependsOn + "]"
		refs, err := ParseDependsOn(value)
		if err != nil {
			v.Add(path, value, "%v", err)
			continue
		}
		for _, r := range refs {
			j, ok := g.lookup(r)
			switch {
			case !ok:
				v.Add(path, r.DependsOnValue(), "names an object that is not in the bundle")
			case j == i:
				v.Add(path, r.DependsOnValue(), "names the object itself, which it cannot wait for")
			default:
				g.add(i, j, "its "+AnnotationDependsOn+" annotation")
			}
		}
	}
	for k, d := range explicit {
		path := fmt.Sprintf("spec.dependencies[%d]", k)
		i, ok1 := g.lookup(d.Object)
		j, ok2 := g.lookup(d.DependsOn)
		v.Check(ok1, path+".object", d.Object.String(), "is not in the bundle")
		v.Check(ok2, path+".dependsOn", d.DependsOn.String(), "is not in the bundle")
		switch {
		case ok1 && ok2 && i == j:
			v.Add(path+".dependsOn", d.DependsOn.String(), "names the object itself, which it cannot wait for")
		case ok1 && ok2:
			g.add(i, j, "spec.dependencies")
		}
	}
	g.sort(v)
	return g
}

func objPath(i int) string { return fmt.Sprintf("release.objects[%d]", i) }

// lookup finds r in the bundle.
func (g *graph) lookup(r Ref) (int, bool) {
	i, ok := g.index[r]
	return i, ok
}

// add records that i waits for j. An inferred edge of an object to
// itself means nothing and is dropped; explicit ones are refused before.
func (g *graph) add(i, j int, why string) {
	if i == j || slices.ContainsFunc(g.deps[i], func(e edge) bool { return e.to == j }) {
		return
	}
	g.deps[i] = append(g.deps[i], edge{to: j, why: why})
	g.dependents[j] = append(g.dependents[j], i)
}

// infer adds the edges that follow from what the objects are.
func (g *graph) infer() {
	crds := map[schema.GroupKind]int{}
	for i, o := range g.objs {
		if g.refs[i].GroupKind() == crdKind {
			group := str(o.Object, "spec", "group")
			kind := str(o.Object, "spec", "names", "kind")
			crds[schema.GroupKind{Group: group, Kind: kind}] = i
		}
	}
	find := func(group, kind, ns, name string) (int, bool) {
		if name == "" {
			return 0, false
		}
		return g.lookup(Ref{Group: group, Kind: kind, Namespace: ns, Name: name})
	}
	// Bindings by the service accounts they bind, for workloads.
	type binding struct {
		i   int
		ns  string // "" for a ClusterRoleBinding
		sas []Ref
	}
	var bindings []binding
	for i, o := range g.objs {
		r := g.refs[i]
		if r.Group != rbacGroup || (r.Kind != "RoleBinding" && r.Kind != "ClusterRoleBinding") {
			continue
		}
		b := binding{i: i, ns: r.Namespace}
		for _, s := range maps(o.Object, "subjects") {
			if str(s, "kind") == "ServiceAccount" {
				b.sas = append(b.sas, Ref{Kind: "ServiceAccount", Namespace: orDefault(str(s, "namespace"), r.Namespace), Name: str(s, "name")})
			}
		}
		bindings = append(bindings, b)
	}

	for i, o := range g.objs {
		r := g.refs[i]
		if r.Namespace != "" {
			if j, ok := find("", "Namespace", "", r.Namespace); ok {
				g.add(i, j, "it is in Namespace "+r.Namespace)
			}
		}
		if j, ok := crds[r.GroupKind()]; ok {
			g.add(i, j, "it is a custom resource of "+g.refs[j].String())
		}
		if tmpl, ok := podTemplate(o); ok {
			pr := podSpecRefs(tmpl)
			if j, ok := find("", "ServiceAccount", r.Namespace, pr.serviceAccount); ok {
				g.add(i, j, "its pods run as ServiceAccount "+pr.serviceAccount)
			}
			sa := Ref{Kind: "ServiceAccount", Namespace: r.Namespace, Name: pr.serviceAccount}
			for _, b := range bindings {
				if (b.ns == "" || b.ns == r.Namespace) && slices.Contains(b.sas, sa) {
					g.add(i, b.i, "it grants ServiceAccount "+sa.Name+" its permissions")
				}
			}
			for _, n := range pr.configMaps {
				if j, ok := find("", "ConfigMap", r.Namespace, n); ok {
					g.add(i, j, "its pods use ConfigMap "+n)
				}
			}
			for _, n := range pr.secrets {
				if j, ok := find("", "Secret", r.Namespace, n); ok {
					g.add(i, j, "its pods use Secret "+n)
				}
			}
			for _, n := range pr.claims {
				if j, ok := find("", "PersistentVolumeClaim", r.Namespace, n); ok {
					g.add(i, j, "its pods mount PersistentVolumeClaim "+n)
				}
			}
			if j, ok := find("scheduling.k8s.io", "PriorityClass", "", pr.priorityClass); ok {
				g.add(i, j, "its pods use PriorityClass "+pr.priorityClass)
			}
		}
		switch r.GroupKind().String() {
		case "RoleBinding.rbac.authorization.k8s.io", "ClusterRoleBinding.rbac.authorization.k8s.io":
			kind, name := str(o.Object, "roleRef", "kind"), str(o.Object, "roleRef", "name")
			ns := r.Namespace
			if kind == "ClusterRole" {
				ns = ""
			}
			if j, ok := find(rbacGroup, kind, ns, name); ok {
				g.add(i, j, "it binds "+kind+" "+name)
			}
			for _, b := range bindings {
				if b.i != i {
					continue
				}
				for _, sa := range b.sas {
					if j, ok := g.lookup(sa); ok {
						g.add(i, j, "it binds ServiceAccount "+sa.Name)
					}
				}
			}
		case "PersistentVolumeClaim":
			if j, ok := find("storage.k8s.io", "StorageClass", "", str(o.Object, "spec", "storageClassName")); ok {
				g.add(i, j, "it uses StorageClass "+g.refs[j].Name)
			}
		case "StatefulSet.apps":
			if j, ok := find("", "Service", r.Namespace, str(o.Object, "spec", "serviceName")); ok {
				g.add(i, j, "Service "+g.refs[j].Name+" governs its pods")
			}
		}
		for _, svc := range calledServices(o) {
			j, ok := find("", "Service", svc.namespace, svc.name)
			if !ok {
				continue
			}
			g.add(i, j, "it calls Service "+svc.namespace+"/"+svc.name)
			for _, w := range g.serving(j) {
				g.add(i, w, "it calls Service "+svc.namespace+"/"+svc.name+", served by "+g.refs[w].String())
			}
		}
	}
}

// serving returns the workloads whose pods the Service at index svc selects.
func (g *graph) serving(svc int) []int {
	sel, found, _ := unstructured.NestedStringMap(g.objs[svc].Object, "spec", "selector")
	if !found || len(sel) == 0 {
		return nil
	}
	selector := labels.SelectorFromSet(sel)
	var out []int
	for i, o := range g.objs {
		if g.refs[i].Namespace != g.refs[svc].Namespace {
			continue
		}
		if tmpl, ok := podTemplate(o); ok && selector.Matches(podLabels(tmpl)) {
			out = append(out, i)
		}
	}
	return out
}

const rbacGroup = "rbac.authorization.k8s.io"

var crdKind = schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}

// sort orders the graph (Kahn's algorithm, lowest index first among the
// objects free to go) and reports every cycle it finds to v.
func (g *graph) sort(v *strategy.Validator) {
	n := len(g.objs)
	waiting := make([]int, n)
	free := &intHeap{}
	for i := range n {
		waiting[i] = len(g.deps[i])
		if waiting[i] == 0 {
			heap.Push(free, i)
		}
	}
	g.order = make([]int, 0, n)
	for free.Len() > 0 {
		i := heap.Pop(free).(int)
		g.order = append(g.order, i)
		for _, d := range g.dependents[i] {
			if waiting[d]--; waiting[d] == 0 {
				heap.Push(free, d)
			}
		}
	}
	if len(g.order) == n {
		return
	}
	// Whatever is left waits on a cycle; report each cycle once.
	reported := map[int]bool{}
	for i := range n {
		if waiting[i] == 0 || reported[i] {
			continue
		}
		cycle := g.findCycle(i, waiting)
		if cycle == nil {
			continue
		}
		parts := make([]string, 0, len(cycle))
		for k, c := range cycle {
			reported[c.to] = true
			from := cycle[(k+len(cycle)-1)%len(cycle)].to
			parts = append(parts, fmt.Sprintf("%s waits for %s (%s)", g.refs[from], g.refs[c.to], c.why))
		}
		v.Add(objPath(cycle[len(cycle)-1].to), g.refs[cycle[len(cycle)-1].to].String(), "dependency cycle: %s", strings.Join(parts, "; "))
	}
}

// findCycle walks from start along edges between objects that are still
// waiting and returns the first cycle it closes, as the edges that make it.
func (g *graph) findCycle(start int, waiting []int) []edge {
	onPath := map[int]int{} // object -> position in path
	var path []edge
	cur := start
	for {
		if pos, ok := onPath[cur]; ok {
			return path[pos:]
		}
		onPath[cur] = len(path)
		next := -1
		for _, e := range g.deps[cur] {
			if waiting[e.to] > 0 {
				next = e.to
				path = append(path, e)
				break
			}
		}
		if next < 0 {
			return nil
		}
		cur = next
	}
}

// waitsFor returns the reason i waits for j, if it does.
func (g *graph) waitsFor(i, j int) (string, bool) {
	for _, e := range g.deps[i] {
		if e.to == j {
			return e.why, true
		}
	}
	return "", false
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
