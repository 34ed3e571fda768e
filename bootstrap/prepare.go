package bootstrap

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cenkalti/backoff/v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/switchyard-dev/switchyard/strategy"
)

// AnnotationBundle marks every object a bundle applies with the bundle that
// owns it, as "namespace/name" of the release's App. Prune deletes only
// objects that still carry it.
const AnnotationBundle = "switchyard.dev/bundle"

// bundle is a release checked and ready to apply: every object normalized
// as it will be applied, the graph between them, and where each is served.
type bundle struct {
	rel     strategy.Release
	id      string // AnnotationBundle's value
	g       *graph
	desired []*unstructured.Unstructured
	hashes  []string
	kinds   []kindInfo
}

// kindInfo is where an object is served.
type kindInfo struct {
	// gvr is empty while the kind is not served: its CRD is in the bundle
	// and not yet established.
	gvr        schema.GroupVersionResource
	namespaced bool
	// crd is the index of the bundle's CRD for the kind, or -1.
	crd int
	// needsStatus marks custom resources whose CRD has a status
	// subresource: they are not ready before their controller writes one.
	needsStatus bool
}

// prepare checks r and the spec, and returns the bundle to apply. Anything
// wrong is one *strategy.ValidationError; it reads the cluster (discovery,
// namespaces) but never writes.
func (s *Strategy) prepare(ctx context.Context, r strategy.Release) (*bundle, error) {
	var v strategy.Validator
	s.validateSpec(&v)
	objsOK := true
	for i, o := range r.Objects {
		switch {
		case o == nil:
			v.Add(objPath(i), nil, "must not be nil")
		case o.GetAPIVersion() == "" || o.GetKind() == "":
			v.Add(objPath(i), o.GetName(), "must have apiVersion and kind")
		case o.GetName() == "":
			v.Add(objPath(i)+".metadata.name", o.GetGenerateName(), "must be set: an object with only generateName cannot be applied twice to the same object")
		default:
			for _, msg := range content.IsPathSegmentName(o.GetName()) {
				v.Add(objPath(i)+".metadata.name", o.GetName(), "%s", msg)
			}
			continue
		}
		objsOK = false
	}
	rel := r
	rel.Objects = nil // checked above, with better messages
	if rel.Revision == "" {
		rel.Revision = "pending" // replaced by the bundle's digest below
	}
	rel.Validate(&v)
	if rel.Workload != nil {
		v.Add("release.workload", nil, "must be empty: a bundle's workloads are among its objects")
	}
	if !objsOK || s.clients.Kube == nil || s.clients.Dynamic == nil || s.clients.Mapper == nil {
		return nil, v.Err()
	}

	b := &bundle{rel: r, id: r.App.Namespace + "/" + r.App.Name}
	b.desired = make([]*unstructured.Unstructured, len(r.Objects))
	b.kinds = make([]kindInfo, len(r.Objects))
	crds := map[schema.GroupKind]int{}
	for i, o := range r.Objects {
		b.desired[i] = normalize(o)
		if RefOf(o).GroupKind() == crdKind {
			gk := schema.GroupKind{Group: str(o.Object, "spec", "group"), Kind: str(o.Object, "spec", "names", "kind")}
			crds[gk] = i
		}
	}
	if err := s.resolveKinds(ctx, b, crds, &v); err != nil {
		return nil, err
	}
	for i, u := range b.desired {
		switch {
		case b.kinds[i].namespaced && u.GetNamespace() == "" && s.spec.Namespace == "":
			// Where it would go depends on who applies it (kubectl takes the
			// kubeconfig's namespace): the bundle must say.
			v.Add(objPath(i)+".metadata.namespace", nil, "must be set: %s is namespaced (or set Spec.Namespace for objects that name none)", u.GetKind())
		case b.kinds[i].namespaced && u.GetNamespace() == "":
			u.SetNamespace(s.spec.Namespace)
		case !b.kinds[i].namespaced:
			// The apiserver ignores the namespace of a cluster-scoped
			// object; so does the bundle.
			u.SetNamespace("")
		}
		if builtIn(u.GroupVersionKind()) && u.GroupVersionKind().GroupKind() == secretKind {
			checkSecretData(u, objPath(i), &v)
		}
		ann := u.GetAnnotations()
		if ann == nil {
			ann = map[string]string{}
		}
		ann[AnnotationBundle] = b.id
		u.SetAnnotations(ann)
	}
	b.g = buildGraph(b.desired, s.spec.Dependencies, &v)
	if err := s.checkNamespaces(ctx, b, &v); err != nil {
		return nil, err
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	sum := sha256.New()
	b.hashes = make([]string, len(b.desired))
	for i, u := range b.desired {
		h, err := hashObject(u)
		if err != nil {
			return nil, fmt.Errorf("hashing %s: %w", b.g.refs[i], err)
		}
		b.hashes[i] = h
		sum.Write([]byte(h))
	}
	if b.rel.Revision == "" {
		b.rel.Revision = "b-" + hex.EncodeToString(sum.Sum(nil))[:12]
	}
	return b, nil
}

var secretKind = schema.GroupKind{Kind: "Secret"}

// checkSecretData checks that every value of a Secret's data is base64, as
// the apiserver requires; stringData takes plain text.
func checkSecretData(u *unstructured.Unstructured, path string, v *strategy.Validator) {
	data, ok := u.Object["data"].(map[string]any)
	if !ok {
		return
	}
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		str, ok := data[k].(string)
		if !ok && data[k] != nil {
			v.Add(path+".data["+k+"]", nil, "must be a base64 string")
			continue
		}
		if _, err := base64.StdEncoding.DecodeString(str); err != nil {
			v.Add(path+".data["+k+"]", nil, "must be base64 (use stringData for plain text): %v", err)
		}
	}
}

func (s *Strategy) validateSpec(v *strategy.Validator) {
	sp := s.spec
	v.Check(sp.Concurrency > 0, "spec.concurrency", sp.Concurrency, "must be positive")
	v.Check(sp.ObjectTimeout > 0, "spec.objectTimeout", sp.ObjectTimeout, "must be positive")
	v.Check(sp.Timeout > 0, "spec.timeout", sp.Timeout, "must be positive")
	seen := map[schema.GroupKind]bool{}
	for i, c := range s.checks {
		path := fmt.Sprintf("spec.checks[%d]", i)
		c.validate(v, path)
		v.Check(!seen[c.Kind], path+".kind", c.Kind.String(), "has a check already")
		seen[c.Kind] = true
	}
	v.Merge("options", s.cfg.Validate())
	v.Check(s.clients.Kube != nil, "clients.kube", nil, "must be set")
	v.Check(s.clients.Dynamic != nil, "clients.dynamic", nil, "must be set")
	v.Check(s.clients.Mapper != nil, "clients.mapper", nil, "must be set")
}

// normalize returns the object as it is applied: without status and the
// metadata the server owns.
func normalize(o *unstructured.Unstructured) *unstructured.Unstructured {
	u := o.DeepCopy()
	delete(u.Object, "status")
	if md, ok := u.Object["metadata"].(map[string]any); ok {
		for _, k := range []string{"resourceVersion", "uid", "creationTimestamp", "managedFields", "generation",
			"selfLink", "deletionTimestamp", "deletionGracePeriodSeconds"} {
			delete(md, k)
		}
	}
	return u
}

// hashObject returns a digest of u's content; map keys are sorted when
// encoded, so equal objects have equal digests.
func hashObject(u *unstructured.Unstructured) (string, error) {
	raw, err := json.Marshal(u.Object)
	if err != nil {
		return "", err
	}
	h := sha256.Sum256(raw)
	return hex.EncodeToString(h[:16]), nil
}

// resolveKinds finds where each object is served. A kind no resource
// serves is an error unless a CRD in the bundle defines it.
func (s *Strategy) resolveKinds(ctx context.Context, b *bundle, crds map[schema.GroupKind]int, v *strategy.Validator) error {
	reset := false
	statusByGV := map[schema.GroupVersion]map[string]bool{}
	for i, u := range b.desired {
		gvk := u.GroupVersionKind()
		info := kindInfo{crd: -1}
		if j, ok := crds[gvk.GroupKind()]; ok {
			info.crd = j
			crd := b.desired[j]
			info.namespaced = str(crd.Object, "spec", "scope") != "Cluster"
			served := false
			for _, ver := range maps(crd.Object, "spec", "versions") {
				if str(ver, "name") == gvk.Version {
					served, _, _ = unstructured.NestedBool(ver, "served")
					_, info.needsStatus, _ = unstructured.NestedMap(ver, "subresources", "status")
				}
			}
			if !served {
				v.Add(objPath(i)+".apiVersion", u.GetAPIVersion(), "is not a version %s serves", b.g0ref(j))
			}
		}
		mapping, err := s.restMapping(ctx, gvk)
		if meta.IsNoMatchError(err) && !reset && info.crd < 0 {
			// Kinds installed since the mapper last looked are found
			// after a reset.
			s.clients.Mapper.Reset()
			reset = true
			mapping, err = s.restMapping(ctx, gvk)
		}
		switch {
		case err == nil:
			info.gvr = mapping.Resource
			info.namespaced = mapping.Scope.Name() == meta.RESTScopeNameNamespace
			if info.crd < 0 && !builtIn(gvk) {
				info.needsStatus, err = s.hasStatus(ctx, mapping.Resource, statusByGV)
				if err != nil {
					return err
				}
			}
		case meta.IsNoMatchError(err) && info.crd >= 0:
			// Served once its CRD is established.
		case meta.IsNoMatchError(err):
			v.Add(objPath(i)+".kind", gvk.String(), "no resource serves this kind: install its CustomResourceDefinition first or add it to the bundle")
		default:
			return fmt.Errorf("finding the resource of %s: %w", gvk, err)
		}
		b.kinds[i] = info
	}
	return nil
}

// restMapping finds the resource of gvk, retrying transient discovery
// errors: the mapper caches what discovery answered, so it is reset before
// each new try.
func (s *Strategy) restMapping(ctx context.Context, gvk schema.GroupVersionKind) (*meta.RESTMapping, error) {
	var mapping *meta.RESTMapping
	tried := false
	err := s.cfg.Retry(ctx, func(context.Context) error {
		if tried {
			s.clients.Mapper.Reset()
		}
		tried = true
		var err error
		mapping, err = untilDone(ctx, func() (*meta.RESTMapping, error) {
			return s.clients.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		})
		if meta.IsNoMatchError(err) {
			return backoff.Permanent(err)
		}
		return err
	})
	return mapping, err
}

// untilDone calls f, which takes no context (discovery, the REST mapper),
// and returns when it does or when ctx ends, whichever is first: a server
// that does not answer cannot hold a run past its context. f's results are
// dropped if ctx ended first; the client's own timeout ends its request.
func untilDone[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// g0ref names object j before the graph exists.
func (b *bundle) g0ref(j int) string { return RefOf(b.desired[j]).String() }

func builtIn(gvk schema.GroupVersionKind) bool { return clientgoscheme.Scheme.Recognizes(gvk) }

// hasStatus reports whether a resource has a status subresource, from
// discovery (one request per group version).
func (s *Strategy) hasStatus(ctx context.Context, gvr schema.GroupVersionResource, cache map[schema.GroupVersion]map[string]bool) (bool, error) {
	gv := gvr.GroupVersion()
	subs, ok := cache[gv]
	if !ok {
		if s.clients.Discovery == nil {
			return false, nil
		}
		var list *metav1.APIResourceList
		err := s.cfg.Retry(ctx, func(ctx context.Context) error {
			var err error
			list, err = untilDone(ctx, func() (*metav1.APIResourceList, error) {
				return s.clients.Discovery.ServerResourcesForGroupVersion(gv.String())
			})
			return err
		})
		if err != nil {
			return false, fmt.Errorf("discovering %s: %w", gv, err)
		}
		subs = map[string]bool{}
		for _, r := range list.APIResources {
			subs[r.Name] = true
		}
		cache[gv] = subs
	}
	return subs[gvr.Resource+"/status"], nil
}

// checkNamespaces makes sure every namespace an object is in, and the
// namespace of the release's record, exists or is in the bundle.
func (s *Strategy) checkNamespaces(ctx context.Context, b *bundle, v *strategy.Validator) error {
	inBundle := map[string]bool{}
	for i, r := range b.g.refs {
		if r.GroupKind() == (schema.GroupKind{Kind: "Namespace"}) {
			inBundle[b.desired[i].GetName()] = true
		}
	}
	type use struct {
		path string
		ns   string
	}
	uses := []use{{"release.app.namespace", b.rel.App.Namespace}}
	for i, u := range b.desired {
		if ns := u.GetNamespace(); ns != "" {
			uses = append(uses, use{objPath(i) + ".metadata.namespace", ns})
		}
	}
	checked := map[string]bool{}
	for _, us := range uses {
		if inBundle[us.ns] || checked[us.ns] {
			continue
		}
		checked[us.ns] = true
		_, err := s.clients.Kube.CoreV1().Namespaces().Get(ctx, us.ns, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			v.Add(us.path, us.ns, "namespace does not exist and is not in the bundle")
		case err != nil:
			return fmt.Errorf("reading namespace %s: %w", us.ns, err)
		}
	}
	return nil
}
