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
		`{"schema":1,"app":"web","timeline":[{"time":"2026-03-01T12:00:00.5Z","kind":"step","step":1,"stepName":"1-SetWeight","stepKind":"SetWeight"},` +
			`{"time":"2026-03-01T12:00:01Z","kind":"traffic","weight":25,"canaryPods":3,"stablePods":9},` +
			`{"time":"2026-03-01T12:00:21Z","kind":"measurement","analysis":"errors","metric":"error-ratio","value":"0.01","verdict":"Successful","limit":"result <= 0.05"},` +
			`{"time":"2026-03-01T12:01:00Z","kind":"request","action":"Promote","by":"oncall","sent":"2026-03-01T12:00:59Z"},` +
			`{"time":"2026-03-01T12:01:00Z","kind":"phase","phase":"Aborted","reason":"Requested","msg":"aborted by oncall"}]}`,
		`{"schema":1,"app":"web","timeline":[{"kind":"explode"}]}`,
		`{"schema":1,"app":"web","timeline":[{"kind":"phase","phase":"Bogus"},{"kind":"request","action":"Explode"}]}`,
		`{"schema":1,"app":"web","timeline":[{"kind":"traffic","weight":-5,"canaryPods":-1}]}`,
		`{"schema":1,"app":"web","timeline":[{"kind":"step","time":"9999-12-31T23:59:59Z","step":99999}]}`,
		`{"schema":1,"app":"web","timeline":{"kind":"step"}}`,
		`{"schema":1,"app":"web","measurements":[{"metric":"m","phase":"Failed","limit":"not result > 0.1"}]}`,
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
