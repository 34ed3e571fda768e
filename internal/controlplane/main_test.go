package controlplane

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/stretchr/testify/require"
)

func TestMain(m *testing.M) { Main(m) }

// newNamespace creates a namespace for one test, deleted after it, and
// waits for its default ServiceAccount (pods are refused before).
func newNamespace(ctx context.Context, t *testing.T, client kubernetes.Interface) string {
	t.Helper()
	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	lw := cache.NewListWatchFromClient(client.CoreV1().RESTClient(), "serviceaccounts", ns.Name,
		fields.OneTermEqualSelector("metadata.name", "default"))
	untilEvent(ctx, t, lw, &corev1.ServiceAccount{}, func(ev watch.Event) (bool, error) {
		return ev.Type != watch.Deleted, nil
	})
	return ns.Name
}

// untilEvent lists and watches until cond holds, failing the test when ctx
// ends first.
func untilEvent(ctx context.Context, t *testing.T, lw cache.ListerWatcher, obj runtime.Object, cond watchtools.ConditionFunc) {
	t.Helper()
	_, err := watchtools.UntilWithSync(ctx, lw, obj, nil, cond)
	require.NoError(t, err)
}

// nameSelector selects one object by name.
func nameSelector(name string) fields.Selector {
	return fields.OneTermEqualSelector("metadata.name", name)
}
