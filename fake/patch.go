package fake

import (
	"encoding/json"
	"fmt"
	"sync"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/applyconfigurations"
	"sigs.k8s.io/yaml"
)

// patch applies a JSON, merge, strategic-merge or apply patch to the object
// at gvr/ns/name, atomically.
func (s *store) patch(gvr schema.GroupVersionResource, ns, name string, pt types.PatchType, data []byte, opts metav1.PatchOptions, o writeOpts) (runtime.Object, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ri, err := s.resource(gvr)
	if err != nil {
		return nil, err
	}
	if ns, err = scope(ri, ns); err != nil {
		return nil, err
	}
	if pt == types.ApplyPatchType {
		return s.applyLocked(ri, ns, name, data, opts, o)
	}
	key := objKey{gvr: gvr, ns: ns, name: name}
	cur, ok := s.getLocked(key)
	if !ok {
		return nil, apierrors.NewNotFound(gvr.GroupResource(), name)
	}
	orig, err := json.Marshal(cur)
	if err != nil {
		return nil, fmt.Errorf("encoding %s: %w", key, err)
	}
	var patched []byte
	switch pt {
	case types.JSONPatchType:
		p, err := jsonpatch.DecodePatch(data)
		if err != nil {
			return nil, apierrors.NewBadRequest("decoding json patch: " + err.Error())
		}
		if patched, err = p.Apply(orig); err != nil {
			return nil, apierrors.NewInvalid(ri.gvk.GroupKind(), name, nil)
		}
	case types.MergePatchType:
		if patched, err = jsonpatch.MergePatch(orig, data); err != nil {
			return nil, apierrors.NewBadRequest("applying merge patch: " + err.Error())
		}
	case types.StrategicMergePatchType:
		if !ri.typed {
			return nil, apierrors.NewGenericServerResponse(415, "patch", gvr.GroupResource(), name,
				"strategic merge patch is not supported for custom resources", 0, false)
		}
		schemaObj, _ := s.kinds.scheme.New(ri.gvk)
		if patched, err = strategicpatch.StrategicMergePatch(orig, data, schemaObj); err != nil {
			return nil, apierrors.NewBadRequest("applying strategic merge patch: " + err.Error())
		}
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("patch type %q is not supported", pt))
	}
	obj, err := s.decode(ri, patched)
	if err != nil {
		return nil, err
	}
	o.dryRun = o.dryRun || len(opts.DryRun) > 0
	return s.updateLocked(gvr, ns, obj, o)
}

// decode turns JSON into the stored form of ri.
func (s *store) decode(ri *resourceInfo, data []byte) (runtime.Object, error) {
	var obj runtime.Object
	if ri.typed {
		o, err := s.kinds.scheme.New(ri.gvk)
		if err != nil {
			return nil, fmt.Errorf("creating %s: %w", ri.gvk, err)
		}
		obj = o
	} else {
		obj = &unstructured.Unstructured{}
	}
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("decoding %s: %v", ri.gvk.Kind, err))
	}
	obj.GetObjectKind().SetGroupVersionKind(ri.gvk)
	return obj, nil
}

// applyLocked is server-side apply: create-or-update with field ownership.
// A field another manager owns gives a 409 Conflict unless Force is set.
func (s *store) applyLocked(ri *resourceInfo, ns, name string, data []byte, opts metav1.PatchOptions, o writeOpts) (runtime.Object, error) {
	if opts.FieldManager == "" {
		return nil, apierrors.NewBadRequest("PATCH with apply patch requires a fieldManager")
	}
	cfg := &unstructured.Unstructured{Object: map[string]any{}}
	if err := yaml.Unmarshal(data, &cfg.Object); err != nil {
		return nil, apierrors.NewBadRequest("decoding apply configuration: " + err.Error())
	}
	if cfg.GetName() == "" {
		cfg.SetName(name)
	}
	if cfg.GetName() != name {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name on the URL (%s)", cfg.GetName(), name))
	}
	if ri.namespaced {
		if cfg.GetNamespace() != "" && cfg.GetNamespace() != ns {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace on the request (%s)", cfg.GetNamespace(), ns))
		}
		cfg.SetNamespace(ns)
	}
	key := objKey{gvr: ri.gvr, ns: ns, name: name}
	cur, exists := s.getLocked(key)
	var live runtime.Object
	if exists {
		live = cur.DeepCopyObject()
	} else {
		n, err := s.newObject(ri)
		if err != nil {
			return nil, err
		}
		live = n
	}
	mgr, err := s.fieldManager(ri)
	if err != nil {
		return nil, err
	}
	force := opts.Force != nil && *opts.Force
	out, err := mgr.Apply(live, cfg, opts.FieldManager, force)
	if err != nil {
		return nil, err
	}
	if !ri.typed {
		// The deduced field manager hands back unstructured content.
		u, ok := out.(*unstructured.Unstructured)
		if !ok {
			return nil, fmt.Errorf("applying %s: unexpected %T", key, out)
		}
		out = u
	}
	o.dryRun = o.dryRun || len(opts.DryRun) > 0
	o.manager = "" // the field manager ran already
	if !exists {
		return s.createLocked(ri.gvr, ns, out, o)
	}
	return s.updateLocked(ri.gvr, ns, out, o)
}

// newObject returns an empty object of ri's kind.
func (s *store) newObject(ri *resourceInfo) (runtime.Object, error) {
	if !ri.typed {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetGroupVersionKind(ri.gvk)
		return u, nil
	}
	obj, err := s.kinds.scheme.New(ri.gvk)
	if err != nil {
		return nil, fmt.Errorf("creating %s: %w", ri.gvk, err)
	}
	obj.GetObjectKind().SetGroupVersionKind(ri.gvk)
	return obj, nil
}

// trackFields records the fields manager set by a create or update.
func (s *store) trackFields(ri *resourceInfo, old, obj runtime.Object, manager string) (runtime.Object, error) {
	mgr, err := s.fieldManager(ri)
	if err != nil {
		return nil, err
	}
	if old == nil {
		if old, err = s.newObject(ri); err != nil {
			return nil, err
		}
	}
	out, err := mgr.Update(old, obj, manager)
	if err != nil {
		return nil, fmt.Errorf("tracking fields of %s: %w", ri.gvk.Kind, err)
	}
	return out, nil
}

// fieldManager returns the field manager of ri's kind, made on first use.
func (s *store) fieldManager(ri *resourceInfo) (*managedfields.FieldManager, error) {
	if m, ok := s.managers[ri.gvk]; ok {
		return m, nil
	}
	var (
		m   *managedfields.FieldManager
		err error
	)
	if ri.typed {
		m, err = managedfields.NewDefaultFieldManager(typeConverter(s.kinds.scheme), s.kinds.scheme,
			noDefaults{}, s.kinds.scheme, ri.gvk, ri.gvk.GroupVersion(), "", nil)
	} else {
		m, err = managedfields.NewDefaultCRDFieldManager(managedfields.NewDeducedTypeConverter(), unstructuredConvertor{},
			noDefaults{}, unstructuredCreater{}, ri.gvk, ri.gvk.GroupVersion(), "", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("making field manager for %s: %w", ri.gvk, err)
	}
	s.managers[ri.gvk] = m
	return m, nil
}

var typeConverterCache struct {
	once sync.Once
	tc   managedfields.TypeConverter
}

func typeConverter(scheme *runtime.Scheme) managedfields.TypeConverter {
	typeConverterCache.once.Do(func() {
		typeConverterCache.tc = applyconfigurations.NewTypeConverter(scheme)
	})
	return typeConverterCache.tc
}

type noDefaults struct{}

func (noDefaults) Default(runtime.Object) {}

// unstructuredCreater and unstructuredConvertor let the field manager work
// on custom resources, which are only ever served in the version asked for.
type unstructuredCreater struct{}

func (unstructuredCreater) New(gvk schema.GroupVersionKind) (runtime.Object, error) {
	u := &unstructured.Unstructured{Object: map[string]any{}}
	u.SetGroupVersionKind(gvk)
	return u, nil
}

type unstructuredConvertor struct{}

func (unstructuredConvertor) Convert(in, out, _ any) error {
	ui, ok1 := in.(*unstructured.Unstructured)
	uo, ok2 := out.(*unstructured.Unstructured)
	if !ok1 || !ok2 {
		return fmt.Errorf("cannot convert %T to %T", in, out)
	}
	uo.Object = runtime.DeepCopyJSON(ui.Object)
	return nil
}

func (unstructuredConvertor) ConvertToVersion(in runtime.Object, gv runtime.GroupVersioner) (runtime.Object, error) {
	u, ok := in.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("cannot convert %T", in)
	}
	if target, ok := gv.KindForGroupVersionKinds([]schema.GroupVersionKind{u.GroupVersionKind()}); ok {
		u = u.DeepCopy()
		u.SetGroupVersionKind(target)
	}
	return u, nil
}

func (unstructuredConvertor) ConvertFieldLabel(_ schema.GroupVersionKind, label, value string) (string, string, error) {
	return label, value, nil
}
