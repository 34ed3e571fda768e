package record

import (
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
)

// TestCloneSharesNothing fills every field of a record and checks that no
// slice, map or pointer of the copy aliases the original, so that a field
// added to Record without a copy in Clone fails here.
func TestCloneSharesNothing(t *testing.T) {
	r := &Record{Schema: RecordSchema, App: "web", Phase: PhasePaused, Started: time.Unix(1, 0),
		Requests:     []Request{{Seq: 1, Action: ActionPromote}},
		History:      []Revision{{Revision: "v1", Workload: &appsv1.Deployment{}, Objects: []string{"ConfigMap/x"}}},
		Measurements: []Measurement{{Metric: "errors"}},
		Timeline:     make([]Entry, 1),
		State:        []byte(`{"a":1}`),
	}
	c := r.Clone()
	if !reflect.DeepEqual(r, c) {
		t.Fatalf("the copy differs:\n%+v\n%+v", r, c)
	}
	rv, cv := reflect.ValueOf(r).Elem(), reflect.ValueOf(c).Elem()
	for i := range rv.NumField() {
		f := rv.Type().Field(i)
		a, b := rv.Field(i), cv.Field(i)
		switch a.Kind() {
		case reflect.Slice, reflect.Map, reflect.Pointer:
			if !a.IsNil() && a.Pointer() == b.Pointer() {
				t.Errorf("field %s is shared by the copy", f.Name)
			}
			if a.Kind() == reflect.Slice && a.Len() == 0 && f.IsExported() {
				t.Errorf("field %s is empty in the test record: fill it", f.Name)
			}
		}
	}
	if c.History[0].Workload == r.History[0].Workload || &c.History[0].Objects[0] == &r.History[0].Objects[0] {
		t.Error("history entries share their workload or objects")
	}
}
