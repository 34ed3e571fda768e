package bootstrap

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDiff(t *testing.T) {
	t.Parallel()
	live := map[string]any{
		"metadata": map[string]any{"name": "web", "resourceVersion": "7", "labels": map[string]any{"app": "web", "old": "x"},
			"managedFields": []any{map[string]any{"manager": "a"}}},
		"spec": map[string]any{"replicas": int64(2), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "web", "image": "web:1"}, map[string]any{"name": "sidecar", "image": "proxy:1"},
		}}}, "ports": []any{int64(80), int64(443)}},
		"status": map[string]any{"replicas": int64(2)},
	}
	next := map[string]any{
		"metadata": map[string]any{"name": "web", "resourceVersion": "8", "labels": map[string]any{"app": "web", "new": "y"}},
		"spec": map[string]any{"replicas": int64(3), "template": map[string]any{"spec": map[string]any{"containers": []any{
			map[string]any{"name": "sidecar", "image": "proxy:1"}, map[string]any{"name": "web", "image": "web:2"},
		}}}, "ports": []any{int64(80)}},
		"status": map[string]any{"replicas": int64(3)},
	}
	assert.Equal(t, `+ metadata.labels.new: "y"
- metadata.labels.old: "x"
- spec.ports[1]: 443
~ spec.replicas: 2 -> 3
~ spec.template.spec.containers[name=web].image: "web:1" -> "web:2"`, diff(live, next, false))
	assert.Empty(t, diff(live, live, false))

	secretLive := map[string]any{"data": map[string]any{"key": "c2VjcmV0"}, "type": "Opaque"}
	secretNext := map[string]any{"data": map[string]any{"key": "b3RoZXI=", "added": "eA=="}, "type": "Opaque"}
	assert.Equal(t, "+ data.added: (sensitive)\n~ data.key: (sensitive) -> (sensitive)", diff(secretLive, secretNext, true))
}
