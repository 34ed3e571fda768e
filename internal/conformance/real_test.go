package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"

	"github.com/switchyard-dev/switchyard/internal/controlplane"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
)

func TestMain(m *testing.M) { controlplane.Main(m) }

func TestRealControlPlane(t *testing.T) {
	cfg := controlplane.Config(t)
	etcd, etcdErr := etcdURL(controlplane.SharedControlPlane(t).LogPath())
	nop := func() {}
	runSuite(t, func(t *testing.T) env {
		w := newRealWire(cfg, etcd, etcdErr)
		kube, err := kubernetes.NewForConfig(w.cfg)
		require.NoError(t, err)
		w.kube = kube
		return env{kube: kube, clock: clock.RealClock{}, idle: nop, busy: nop, name: "real", wire: w}
	})
}

// etcdURL reads etcd's client URL from the command line that starts its
// log (see internal/controlplane's documentation).
func etcdURL(logDir string) (string, error) {
	f, err := os.Open(filepath.Join(logDir, controlplane.Etcd+".log"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading etcd's command line: %w", err)
	}
	for _, arg := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(arg, "--advertise-client-urls="); ok {
			return strings.Split(v, ",")[0], nil
		}
	}
	return "", fmt.Errorf("no --advertise-client-urls in etcd's command line %q", line)
}

// realWire is the wire of a real control plane: a transport under the
// test's client that counts its requests, holds and ends its watches; RBAC
// and impersonation for forbidden watches; and etcd's own API for
// compaction.
type realWire struct {
	cfg     *rest.Config // admin, through the wire's transport
	kube    kubernetes.Interface
	etcd    string // etcd's client URL
	etcdErr error  // why etcd is unknown

	mu      sync.Mutex
	counts  map[[2]string]int
	open    map[*watchBody]string    // open watches, by resource
	held    map[string]chan struct{} // closed when the watches of a resource are released
	dropGen map[string]int           // drops so far, by resource
}

func newRealWire(admin *rest.Config, etcd string, etcdErr error) *realWire {
	w := &realWire{
		etcd: etcd, etcdErr: etcdErr,
		counts: map[[2]string]int{}, open: map[*watchBody]string{},
		held: map[string]chan struct{}{}, dropGen: map[string]int{},
	}
	w.cfg = rest.CopyConfig(admin)
	w.cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &wireTransport{w: w, next: rt} })
	return w
}

func (w *realWire) requests(verb, resource string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.counts[[2]string{verb, resource}]
}

func (w *realWire) dropWatches(resource string) {
	w.mu.Lock()
	w.dropGen[resource]++
	var drop []*watchBody
	for b, r := range w.open {
		if r == resource {
			drop = append(drop, b)
		}
	}
	w.mu.Unlock()
	for _, b := range drop {
		b.drop()
	}
}

func (w *realWire) holdWatches(resource string) (release func()) {
	ch := make(chan struct{})
	w.mu.Lock()
	w.held[resource] = ch
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			if w.held[resource] == ch {
				delete(w.held, resource)
			}
			w.mu.Unlock()
			close(ch)
		})
	}
}

// compactEvents compacts etcd at its current revision, through its HTTP
// gateway. The API server serves Events from etcd without a watch cache, so
// a watch from an earlier resourceVersion gets 410 Gone.
func (w *realWire) compactEvents(t *testing.T, ctx context.Context, _ string) {
	t.Helper()
	if w.etcd == "" {
		t.Skipf("skipping: etcd's URL is unknown (%v), so etcd cannot be compacted to expire a watch", w.etcdErr)
	}
	var rng struct {
		Header struct {
			Revision string `json:"revision"`
		} `json:"header"`
	}
	// Any range read reports the store's current revision.
	require.NoError(t, etcdCall(ctx, w.etcd+"/v3/kv/range", map[string]any{"key": "AA==", "limit": 1}, &rng))
	rev, err := strconv.ParseInt(rng.Header.Revision, 10, 64)
	require.NoError(t, err, "etcd's revision %q", rng.Header.Revision)
	require.NoError(t, etcdCall(ctx, w.etcd+"/v3/kv/compaction", map[string]any{"revision": rev, "physical": true}, nil))
}

// etcdCall posts req as JSON to one of etcd's gateway endpoints.
func etcdCall(ctx context.Context, url string, req, resp any) error {
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(r)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	out, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("etcd %s: %s: %s", url, res.Status, out)
	}
	if resp == nil {
		return nil
	}
	return json.Unmarshal(out, resp)
}

// watcher impersonates a user of its own, bound to a Role of ns that
// grants get, list and watch of ConfigMaps; forbid takes watch out of the
// Role, waits until the API server's authorizer denies it and ends the
// user's watches.
func (w *realWire) watcher(t *testing.T, ctx context.Context, ns string) (kubernetes.Interface, func()) {
	t.Helper()
	user := "conformance-watcher-" + ns
	rules := func(verbs ...string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: verbs}}
	}
	role, err := w.kube.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{
		ObjectMeta: metav1.ObjectMeta{Name: "watcher"}, Rules: rules("get", "list", "watch"),
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = w.kube.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "watcher"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "watcher"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	w.waitAccess(t, ctx, user, ns, "list", true)
	w.waitAccess(t, ctx, user, ns, "watch", true)

	cfg := rest.CopyConfig(w.cfg) // through the same transport
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user}
	kube, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return kube, func() {
		role.Rules = rules("get", "list")
		_, err := w.kube.RbacV1().Roles(ns).Update(ctx, role, metav1.UpdateOptions{})
		require.NoError(t, err)
		w.waitAccess(t, ctx, user, ns, "watch", false)
		w.dropWatches("configmaps")
	}
}

// waitAccess waits until the API server's authorizer, which follows RBAC
// objects through a cache of its own, says whether user may verb the
// ConfigMaps of ns.
func (w *realWire) waitAccess(t *testing.T, ctx context.Context, user, ns, verb string, allowed bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		r, err := w.kube.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
			Spec: authorizationv1.SubjectAccessReviewSpec{
				User: user, Groups: []string{"system:authenticated"},
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: ns, Verb: verb, Resource: "configmaps"},
			},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, err
		}
		return r.Status.Allowed == allowed, nil
	})
	require.NoError(t, err, "waiting until %s may %s configmaps: %v", user, verb, allowed)
}

// wireTransport is the transport of a realWire.
type wireTransport struct {
	w    *realWire
	next http.RoundTripper
}

func (t *wireTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := t.w
	verb, resource := classify(req)
	w.mu.Lock()
	w.counts[[2]string{verb, resource}]++
	hold := w.held[resource]
	gen := w.dropGen[resource]
	w.mu.Unlock()
	if verb != "watch" {
		return t.next.RoundTrip(req)
	}
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return nil, req.Context().Err()
		}
	}
	resp, err := t.next.RoundTrip(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		return resp, err
	}
	b := &watchBody{body: resp.Body}
	b.forget = func() {
		w.mu.Lock()
		delete(w.open, b)
		w.mu.Unlock()
	}
	w.mu.Lock()
	w.open[b] = resource
	dropped := w.dropGen[resource] != gen // dropped while it opened
	w.mu.Unlock()
	if dropped {
		b.drop()
	}
	resp.Body = b
	return resp, nil
}

// classify names the verb and resource of an API request as the fake's
// request counts do (e2ekit.Classify, with a server-side apply counted as
// the patch it is): "list" and "configmaps", "update" and
// "deployments/status".
func classify(req *http.Request) (verb, resource string) {
	verb, resource = e2ekit.Classify(req)
	if verb == "apply" {
		verb = "patch"
	}
	return verb, resource
}

// watchBody is the body of a watch response that the wire can end: once
// dropped it reads as a clean end of stream, as when the server ends the
// watch.
type watchBody struct {
	body    io.ReadCloser
	dropped atomic.Bool
	forget  func()
}

func (b *watchBody) Read(p []byte) (int, error) {
	if b.dropped.Load() {
		return 0, io.EOF
	}
	n, err := b.body.Read(p)
	if err != nil && b.dropped.Load() {
		err = io.EOF
	}
	return n, err
}

// drop ends the stream; closing the body wakes a read in progress.
func (b *watchBody) drop() {
	b.dropped.Store(true)
	_ = b.body.Close()
}

func (b *watchBody) Close() error {
	b.forget()
	return b.body.Close()
}
