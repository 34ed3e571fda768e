package bootstrap

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/cenkalti/backoff/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/switchyard-dev/switchyard/strategy"
)

// The inventory: a ConfigMap named InventoryName(app) in the app's
// namespace, labelled LabelInventory, whose InventoryKey holds JSON.
const (
	LabelInventory  = "switchyard.dev/inventory"
	InventoryKey    = "inventory.json"
	inventorySchema = 1
)

// InventoryName returns the name of the ConfigMap that holds the inventory
// of bundle app.
func InventoryName(app string) string { return app + ".inventory" }

// inventory records the objects a bundle owns: what was applied (a digest
// of the manifest and of the fields the bundle owned after the apply),
// whether the bundle created the object, and its UID.
type inventory struct {
	Schema   int        `json:"schema"`
	Bundle   string     `json:"bundle"`
	Revision string     `json:"revision,omitempty"`
	Objects  []invEntry `json:"objects"`
}

type invEntry struct {
	Group     string    `json:"group,omitempty"`
	Version   string    `json:"version"`
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name"`
	UID       types.UID `json:"uid,omitempty"`
	// Hash is the digest of the manifest as last applied; Fields the
	// digest of the bundle's field manager entry after that apply. Both are
	// empty while an apply is pending.
	Hash   string `json:"hash,omitempty"`
	Fields string `json:"fields,omitempty"`
	// Created is true when a run of this bundle created the object, rather
	// than taking over one that existed.
	Created bool `json:"created,omitempty"`
}

func (e invEntry) ref() Ref {
	return Ref{Group: e.Group, Kind: e.Kind, Namespace: e.Namespace, Name: e.Name}
}

func (e invEntry) gvk() schema.GroupVersionKind {
	return schema.GroupVersionKind{Group: e.Group, Version: e.Version, Kind: e.Kind}
}

func compareRefs(a, b Ref) int {
	return cmp.Or(cmp.Compare(a.Group, b.Group), cmp.Compare(a.Kind, b.Kind),
		cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// index returns the entries by Ref.
func (inv *inventory) index() map[Ref]invEntry {
	out := make(map[Ref]invEntry, len(inv.Objects))
	for _, e := range inv.Objects {
		out[e.ref()] = e
	}
	return out
}

func (inv *inventory) sortObjects() {
	slices.SortFunc(inv.Objects, func(a, b invEntry) int { return compareRefs(a.ref(), b.ref()) })
}

func (inv *inventory) equal(o *inventory) bool {
	return inv.Bundle == o.Bundle && inv.Revision == o.Revision && slices.Equal(inv.Objects, o.Objects)
}

// inventoryStore reads and writes one bundle's inventory.
type inventoryStore struct {
	kube kubernetes.Interface
	app  types.NamespacedName
	rv   string // resourceVersion last read or written; "" when there is none
}

// read returns the stored inventory, or an empty one for a bundle that has
// none yet. A ConfigMap of that name that is not an inventory, or that
// cannot be parsed, is an error, and is never overwritten.
func (st *inventoryStore) read(ctx context.Context) (*inventory, error) {
	name := InventoryName(st.app.Name)
	cm, err := st.kube.CoreV1().ConfigMaps(st.app.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		st.rv = ""
		return &inventory{Schema: inventorySchema, Bundle: st.app.String()}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading inventory %s/%s: %w", st.app.Namespace, name, err)
	}
	bad := func(reason string, cause error) error {
		return &strategy.RecordError{App: st.app, Name: name, Reason: reason, Err: cause}
	}
	if cm.Labels[LabelInventory] != "true" || cm.Labels[strategy.LabelManagedBy] != strategy.ManagedBy {
		return nil, bad("the ConfigMap exists but is not labelled as a switchyard inventory; it is left untouched", strategy.ErrForeignRecord)
	}
	var inv inventory
	if err := json.Unmarshal([]byte(cm.Data[InventoryKey]), &inv); err != nil {
		return nil, bad("cannot parse "+InventoryKey+": "+err.Error(), strategy.ErrCorruptRecord)
	}
	if inv.Schema != inventorySchema {
		return nil, bad(fmt.Sprintf("schema %d, this version reads %d", inv.Schema, inventorySchema), strategy.ErrCorruptRecord)
	}
	st.rv = cm.ResourceVersion
	return &inv, nil
}

// write stores inv, creating the ConfigMap the first time. Writes carry the
// resourceVersion last seen, so a concurrent writer makes it fail.
func (st *inventoryStore) write(ctx context.Context, inv *inventory) error {
	inv.sortObjects()
	raw, err := json.Marshal(inv)
	if err != nil {
		return fmt.Errorf("encoding inventory: %w", err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name: InventoryName(st.app.Name), Namespace: st.app.Namespace, ResourceVersion: st.rv,
			Labels: map[string]string{LabelInventory: "true", strategy.LabelManagedBy: strategy.ManagedBy, strategy.LabelApp: st.app.Name},
		},
		Data: map[string]string{InventoryKey: string(raw)},
	}
	cms := st.kube.CoreV1().ConfigMaps(st.app.Namespace)
	var out *corev1.ConfigMap
	if st.rv == "" {
		out, err = cms.Create(ctx, cm, metav1.CreateOptions{})
	} else {
		out, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
	}
	if apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) {
		// Either an earlier try of this write took effect and its answer
		// was lost (the inventory holds exactly what was sent), or someone
		// else wrote since it was read, and trying again cannot succeed.
		if now, gerr := cms.Get(ctx, cm.Name, metav1.GetOptions{}); gerr == nil && now.Data[InventoryKey] == string(raw) {
			st.rv = now.ResourceVersion
			return nil
		}
		return backoff.Permanent(fmt.Errorf("writing inventory %s/%s: %w", st.app.Namespace, cm.Name, err))
	}
	if err != nil {
		return fmt.Errorf("writing inventory %s/%s: %w", st.app.Namespace, cm.Name, err)
	}
	st.rv = out.ResourceVersion
	return nil
}

// Inventory returns the objects the inventory of bundle app records, sorted.
func (s *Strategy) Inventory(ctx context.Context, app types.NamespacedName) ([]Ref, error) {
	st := &inventoryStore{kube: s.clients.Kube, app: app}
	inv, err := st.read(ctx)
	if err != nil {
		return nil, err
	}
	inv.sortObjects()
	out := make([]Ref, len(inv.Objects))
	for i, e := range inv.Objects {
		out[i] = e.ref()
	}
	return out, nil
}
