package reliability

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/switchyard-dev/switchyard/internal/e2ekit"
)

// Kind is a kind of fault the proxy injects.
type Kind string

const (
	// Internal answers 500 InternalError without forwarding.
	Internal Kind = "500"
	// Throttled answers 429 TooManyRequests with a Retry-After header
	// without forwarding; client-go waits and retries by itself.
	Throttled Kind = "429"
	// Conflict answers 409 Conflict (the object has been modified) without
	// forwarding; only updates and patches other than server-side apply
	// get it, where a real server can answer it.
	Conflict Kind = "409"
	// Timeout holds the request until the client gives up or Hold passes,
	// then answers 504 Timeout, without forwarding.
	Timeout Kind = "504"
	// Lost forwards the request, lets the server answer it, then drops the
	// answer: the client sees a broken stream although the write happened.
	Lost Kind = "lost"
	// Cut ends an established watch mid-stream with a broken stream.
	Cut Kind = "cut"
)

// RequestKinds are the kinds a request can get, the default of
// Options.Kinds.
var RequestKinds = []Kind{Internal, Throttled, Conflict, Timeout, Lost}

// request is what the proxy knows of one request to classify it.
type request struct {
	verb, resource string
	watch          bool
	write          bool // changes state: create, update, patch, apply, delete
	event          bool // a corev1 or events.k8s.io Event: a report, not state
	key            string
}

func classify(r *http.Request) request {
	verb, res := e2ekit.Classify(r)
	q := r.URL.Query()
	rq := request{verb: verb, resource: res, watch: verb == "watch"}
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		rq.write = q.Get("dryRun") == ""
	}
	rq.event = res == "events"
	// The key leaves out the namespace and what changes from one attempt to
	// the next (resourceVersion, timeouts), so that the fates of a run's
	// requests depend on the seed and the order of each key's requests, not
	// on namespace names or how other requests interleave.
	rq.key = r.Method + " " + stripNamespace(r.URL.Path) + "?" + keyQuery(q)
	return rq
}

func stripNamespace(path string) string {
	parts := strings.Split(path, "/")
	for i := 0; i+1 < len(parts); i++ {
		if parts[i] == "namespaces" && i+2 < len(parts) {
			parts[i+1] = "_"
			break
		}
	}
	return strings.Join(parts, "/")
}

func keyQuery(q url.Values) string {
	keep := url.Values{}
	for _, k := range []string{"watch", "labelSelector", "fieldSelector", "fieldManager", "force"} {
		if v, ok := q[k]; ok {
			keep[k] = v
		}
	}
	return keep.Encode()
}

// applicable returns the kinds of kinds that request rq can get.
func applicable(kinds []Kind, rq request, method, contentType string) []Kind {
	var out []Kind
	for _, k := range kinds {
		switch k {
		case Conflict:
			apply := strings.HasPrefix(contentType, "application/apply-patch")
			if rq.watch || !(method == http.MethodPut || method == http.MethodPatch && !apply) {
				continue
			}
		case Lost:
			if rq.watch { // a watch gets faults only when it is established
				continue
			}
		case Cut:
			continue // decided apart, for established watches
		}
		out = append(out, k)
	}
	return out
}

// fate is what happens to one request.
type fate struct {
	kind Kind          // "" for none
	cut  time.Duration // >0: cut the established watch after this long
}

// decide draws the fate of the n-th request (from 0) of key.
func decide(o *Options, seed uint64, key string, n uint64, kinds []Kind, isWatch bool) fate {
	h := fnv.New64a()
	_, _ = h.Write([]byte(key))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()^(n+1)*0x9e3779b97f4a7c15))
	var f fate
	if x := rng.Float64(); x < o.Rate && len(kinds) > 0 {
		f.kind = kinds[rng.IntN(len(kinds))]
		return f
	}
	if isWatch && o.WatchCut > 0 && rng.Float64() < o.WatchCut {
		f.cut = time.Duration(1 + rng.Int64N(int64(o.watchCutAfter())))
	}
	return f
}

// writeStatus answers with a metav1.Status as the apiserver does.
func writeStatus(w http.ResponseWriter, st *metav1.Status) {
	st.Kind, st.APIVersion, st.Status = "Status", "v1", metav1.StatusFailure
	body, _ := json.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	if st.Details != nil && st.Details.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(st.Details.RetryAfterSeconds)))
	}
	w.WriteHeader(int(st.Code))
	_, _ = w.Write(body)
}

func statusOf(k Kind, rq request, name string, retryAfter time.Duration) *metav1.Status {
	what := rq.resource
	if name != "" {
		what = fmt.Sprintf("%s %q", rq.resource, name)
	}
	switch k {
	case Throttled:
		secs := int32(max(1, retryAfter.Round(time.Second)/time.Second))
		return &metav1.Status{Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests,
			Message: "too many requests, please try again later (injected)",
			Details: &metav1.StatusDetails{RetryAfterSeconds: secs}}
	case Conflict:
		return &metav1.Status{Code: http.StatusConflict, Reason: metav1.StatusReasonConflict,
			Message: fmt.Sprintf("Operation cannot be fulfilled on %s: the object has been modified; "+
				"please apply your changes to the latest version and try again (injected)", what),
			Details: &metav1.StatusDetails{Name: name, Kind: rq.resource}}
	case Timeout:
		return &metav1.Status{Code: http.StatusGatewayTimeout, Reason: metav1.StatusReasonTimeout,
			Message: "the server was unable to return a response in the time allotted, but may still be processing the request (injected)"}
	default:
		return &metav1.Status{Code: http.StatusInternalServerError, Reason: metav1.StatusReasonInternalError,
			Message: fmt.Sprintf("Internal error occurred: injected fault on %s", what)}
	}
}
