package record

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// FuzzDecodeRecord feeds arbitrary text to the record reader: it never
// panics, and a record it accepts passes its own checks again after a
// round trip. The seeds run as an ordinary test; a longer run:
//
//	go test -run '^$' -fuzz FuzzDecodeRecord -fuzztime 60s ./strategy/record/
func FuzzDecodeRecord(f *testing.F) {
	for _, seed := range []string{
		`{"schema":1,"app":"web","phase":"Progressing","step":2,"stepName":"switch","lease":{"duration":"30s"}}`,
		`{"schema":1,"app":"web","step":-1}`,
		`{"schema":1,"app":"web","step":9999,"stepName":"done"}`,
		`{"schema":1,"app":"web","phase":"Bogus"}`,
		`{"schema":1,"app":"web","lease":{"holder":"x","renewed":"2999-01-01T00:00:00Z","duration":"876000h"}}`,
		`{"schema":1,"app":"web","requests":[{"action":"Explode"}]}`,
		`{"schema":1,"app":"web","state":{"candidate":"purple"}}`,
		`{"schema":2}`, `null`, `[]`, `{`,
	} {
		f.Add(seed)
	}
	app := types.NamespacedName{Namespace: "shop", Name: "web"}
	f.Fuzz(func(t *testing.T, raw string) {
		cm := &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: Name("web"), Namespace: "shop",
				Labels: map[string]string{LabelManagedBy: ManagedBy, LabelRecord: "true"}},
			Data: map[string]string{RecordKey: raw},
		}
		rec, err := Decode(app, cm)
		if err != nil {
			return
		}
		_ = rec.Lease.Live(rec.Updated)
		_ = rec.Lease.ExpiresSeen(rec.Updated)
		_, _ = rec.Find(rec.Revision)
		_ = rec.Ended(rec.Revision)
		out, err := json.Marshal(rec)
		if err != nil {
			t.Fatalf("an accepted record does not encode: %v", err)
		}
		cm.Data[RecordKey] = string(out)
		if _, err := Decode(app, cm); err != nil {
			t.Fatalf("an accepted record is rejected after a round trip: %v", err)
		}
	})
}
