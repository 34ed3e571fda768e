package e2e

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/rbac"
)

var nsSeq atomic.Int64

// cluster is the shared control plane as its admin sees it.
type cluster struct {
	cfg   *rest.Config
	admin strategy.Clients
}

func newCluster(t testing.TB) *cluster {
	t.Helper()
	cfg := controlplane.Config(t)
	admin, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	return &cluster{cfg: cfg, admin: admin}
}

// namespace creates a namespace of its own for the test, deleted after it.
func (c *cluster) namespace(t testing.TB, ctx context.Context, prefix string) string {
	t.Helper()
	ns := fmt.Sprintf("%s-%d", prefix, nsSeq.Add(1))
	kube := c.admin.Kube
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = kube.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return ns
}

// actAs creates ServiceAccount name in ns bound to exactly role and cr
// (either may be nil) and returns clients that authenticate with a token
// of that account, once the apiserver's authorizer has seen the grants.
func (c *cluster) actAs(t testing.TB, ctx context.Context, ns, name string, role *rbacv1.Role, cr *rbacv1.ClusterRole) strategy.Clients {
	t.Helper()
	kube := c.admin.Kube
	_, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	require.NoError(t, err)
	subject := rbac.ServiceAccount(ns, name)
	if role != nil {
		_, err = kube.RbacV1().Roles(ns).Create(ctx, role, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = kube.RbacV1().RoleBindings(ns).Create(ctx, rbac.RoleBinding(role, subject), metav1.CreateOptions{})
		require.NoError(t, err)
	}
	if cr != nil {
		_, err = kube.RbacV1().ClusterRoles().Create(ctx, cr, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = kube.RbacV1().ClusterRoleBindings().Create(ctx, rbac.ClusterRoleBinding(cr, subject), metav1.CreateOptions{})
		require.NoError(t, err)
		t.Cleanup(func() {
			bg := context.Background()
			_ = kube.RbacV1().ClusterRoleBindings().Delete(bg, cr.Name, metav1.DeleteOptions{})
			_ = kube.RbacV1().ClusterRoles().Delete(bg, cr.Name, metav1.DeleteOptions{})
		})
	}
	tok, err := kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	cfg := rest.AnonymousClientConfig(c.cfg)
	cfg.BearerToken = tok.Status.Token
	cl, err := strategy.NewClients(cfg)
	require.NoError(t, err)
	// The authorizer reads RBAC objects from its watch cache: a grant lands
	// within milliseconds, not at once, and cannot be watched for. Ask it,
	// as the account, until every rule of both roles is granted.
	var reviews []authorizationv1.ResourceAttributes
	if role != nil {
		for _, r := range role.Rules {
			reviews = append(reviews, authorizationv1.ResourceAttributes{Namespace: ns, Group: r.APIGroups[0], Resource: r.Resources[0], Verb: r.Verbs[0]})
		}
	}
	if cr != nil {
		for _, r := range cr.Rules {
			reviews = append(reviews, authorizationv1.ResourceAttributes{Group: r.APIGroups[0], Resource: r.Resources[0], Verb: r.Verbs[0]})
		}
	}
	err = wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		for _, attrs := range reviews {
			r, err := cl.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
				Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attrs},
			}, metav1.CreateOptions{})
			if err != nil || !r.Status.Allowed {
				return false, err
			}
		}
		return true, nil
	})
	require.NoError(t, err, "the grants of %s/%s never took effect", ns, name)
	return cl
}

// without returns a copy of rules with verb removed from the rule for
// group/resource; a rule left with no verbs is dropped.
func without(rules []rbacv1.PolicyRule, group, resource, verb string) []rbacv1.PolicyRule {
	var out []rbacv1.PolicyRule
	for _, r := range rules {
		r = *r.DeepCopy()
		if r.APIGroups[0] == group && r.Resources[0] == resource {
			r.Verbs = slices.DeleteFunc(r.Verbs, func(v string) bool { return v == verb })
			if len(r.Verbs) == 0 {
				continue
			}
		}
		out = append(out, r)
	}
	return out
}
