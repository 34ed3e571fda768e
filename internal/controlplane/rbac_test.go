package controlplane

import (
	"context"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRBACIsEnforced checks that identities without RBAC grants are refused,
// and that a grant takes effect: the API server runs with
// --authorization-mode=Node,RBAC, not AlwaysAllow.
func TestRBACIsEnforced(t *testing.T) {
	t.Parallel()
	cfg := Config(t)
	admin, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	ns := newNamespace(ctx, t, admin)

	t.Run("impersonated user", func(t *testing.T) {
		c := rest.CopyConfig(cfg)
		c.Impersonate = rest.ImpersonationConfig{UserName: "nobody"}
		nobody, err := kubernetes.NewForConfig(c)
		require.NoError(t, err)
		_, err = nobody.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		assert.True(t, apierrors.IsForbidden(err), "want Forbidden, got %v", err)
	})

	t.Run("service account token", func(t *testing.T) {
		_, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
			ObjectMeta: metav1.ObjectMeta{Name: "reader"},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "reader", &authenticationv1.TokenRequest{
			Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](600)},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		c := rest.AnonymousClientConfig(cfg)
		c.BearerToken = tok.Status.Token
		reader, err := kubernetes.NewForConfig(c)
		require.NoError(t, err)

		review, err := reader.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		require.NoError(t, err, "the token must authenticate")
		assert.Equal(t, "system:serviceaccount:"+ns+":reader", review.Status.UserInfo.Username)

		_, err = reader.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		require.True(t, apierrors.IsForbidden(err), "want Forbidden before the grant, got %v", err)

		_, err = admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
			Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}, Verbs: []string{"list"}}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = admin.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "pod-reader"},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "pod-reader"},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "reader", Namespace: ns}},
		}, metav1.CreateOptions{})
		require.NoError(t, err)

		// The authorizer reads RBAC objects from its watch cache: the grant
		// lands within milliseconds, not at once.
		err = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			_, err := reader.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if apierrors.IsForbidden(err) {
				return false, nil
			}
			return err == nil, err
		})
		require.NoError(t, err, "the grant must let the service account list pods")
		_, err = reader.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
		assert.True(t, apierrors.IsForbidden(err), "want Forbidden for secrets, got %v", err)
	})
}
