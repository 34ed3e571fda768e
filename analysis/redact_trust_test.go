package analysis_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/analysis"
	"github.com/switchyard-dev/switchyard/fake"
	"github.com/switchyard-dev/switchyard/strategy"
)

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"no secret":          {"http://prom:9090/api/v1/query?query=up&ns=shop", "http://prom:9090/api/v1/query?query=up&ns=shop"},
		"api_key":            {"https://judge/x?api_key=s3cr3t&v=2", "https://judge/x?api_key=xxxxx&v=2"},
		"several":            {"https://judge/x?token=a1b2&apikey=c3d4&access_token=e5&password=p&client_secret=q&sig=r&X-Amz-Signature=s&auth=t&key=u", "https://judge/x?token=xxxxx&apikey=xxxxx&access_token=xxxxx&password=xxxxx&client_secret=xxxxx&sig=xxxxx&X-Amz-Signature=xxxxx&auth=xxxxx&key=xxxxx"},
		"escaped name":       {"https://judge/x?api%5Fkey=s3cr3t", "https://judge/x?api%5Fkey=xxxxx"},
		"password":           {"http://ops:hunter22@prom:9090/", "http://ops:xxxxx@prom:9090/"},
		"user only":          {"https://ghp_token123@github.com/org/repo", "https://xxxxx@github.com/org/repo"},
		"fragment":           {"https://app/cb#access_token=abc123&state=x", "https://app/cb#access_token=xxxxx&state=x"},
		"template kept":      {"http://judge/{{.Revision}}?token={{arg \"token\"}}&v={{.Revision}}", "http://judge/{{.Revision}}?token=xxxxx&v={{.Revision}}"},
		"relative":           {"/api/v1/query?api_key=s3cr3t", "/api/v1/query?api_key=xxxxx"},
		"unparsable":         {"http://ops:hunter22@prom:port/?api_key=s3cr3t", "http://ops:xxxxx@prom:port/?api_key=xxxxx"},
		"@ in path survives": {"http://prom/users/@me?q=1", "http://prom/users/@me?q=1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, analysis.RedactURL(tc.in))
		})
	}
}

func TestSecretNameAndHeaders(t *testing.T) {
	t.Parallel()
	for _, n := range []string{"Authorization", "Proxy-Authorization", "Cookie", "X-Api-Key", "X-Auth-Token", "api_key", "apikey", "key", "sig", "X-Amz-Signature", "client_secret", "password", "X-Vault-Token", "Set-Cookie"} {
		assert.True(t, analysis.SecretName(n), n)
		assert.Equal(t, analysis.Mask, analysis.RedactHeader(n, "v4lue"), n)
	}
	for _, n := range []string{"query", "ns", "X-Team", "Accept", "Content-Type", "v", "time", "step"} {
		assert.False(t, analysis.SecretName(n), n)
		assert.Equal(t, "v4lue", analysis.RedactHeader(n, "v4lue"), n)
	}
}

func TestSecretsOf(t *testing.T) {
	t.Parallel()
	got := analysis.SecretsOf("http://ops:pw12@prom/?api_key=k123&q=up", http.Header{
		"Authorization": {"Bearer t0k3n"}, "X-Team": {"checkout"}, "X-Api-Key": {"h3ad"},
	})
	assert.ElementsMatch(t, []string{"pw12", "k123", "Bearer t0k3n", "t0k3n", "h3ad"}, got)
	assert.Empty(t, analysis.SecretsOf("http://prom:9090/?query=up", http.Header{"Accept": {"json"}}))
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		secrets []string
		want    string
	}{
		"URL in an error":   {in: `Get "http://u:pw@h/x?api_key=s3cr3t": dial tcp: refused`, want: `Get "http://u:xxxxx@h/x?api_key=xxxxx": dial tcp: refused`},
		"request line":      {in: "GET /x?token=s3cr3t HTTP/1.1", want: "GET /x?token=xxxxx HTTP/1.1"},
		"JSON field":        {in: `{"error":"bad","api_key":"s3cr3t","rate":0.1}`, want: `{"error":"bad","api_key":"xxxxx","rate":0.1}`},
		"header line":       {in: "X-Api-Key: s3cr3t", want: "X-Api-Key: xxxxx"},
		"bearer":            {in: "sent Bearer abc.def-ghi", want: "sent Bearer xxxxx"},
		"known secret":      {in: "the server said: hello t0pS3cret!", secrets: []string{"t0pS3cret"}, want: "the server said: hello xxxxx!"},
		"short secret kept": {in: "result 1 > 0", secrets: []string{"1"}, want: "result 1 > 0"},
		"plain message":     {in: "metric web failed 3 of 3 times (limit 2): result 0.071 > 0.05", want: "metric web failed 3 of 3 times (limit 2): result 0.071 > 0.05"},
		"PromQL kept":       {in: `sum(rate(http_requests_total{code=~"5.."}[1m]))`, want: `sum(rate(http_requests_total{code=~"5.."}[1m]))`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, analysis.Redact(tc.in, tc.secrets...))
		})
	}
}

func TestRedactError(t *testing.T) {
	t.Parallel()
	require.NoError(t, analysis.RedactError(nil))
	plain := errors.New("connection refused")
	assert.Same(t, plain, analysis.RedactError(plain), "an error without secrets is returned as it is")

	ue := &url.Error{Op: "Get", URL: "http://u:pw12@h/x?api_key=s3cr3t", Err: context.DeadlineExceeded}
	err := analysis.RedactError(fmt.Errorf("GET %s: %w", ue.URL, ue))
	require.Error(t, err)
	assert.Equal(t, `GET http://u:xxxxx@h/x?api_key=xxxxx: Get "http://u:xxxxx@h/x?api_key=xxxxx": context deadline exceeded`, err.Error())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	var got *url.Error
	require.ErrorAs(t, err, &got)
	assert.Equal(t, "http://u:xxxxx@h/x?api_key=xxxxx", got.URL, "errors.As finds a masked copy")
	assert.True(t, got.Timeout())
	for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
		assert.NotContains(t, e.Error(), "s3cr3t")
		assert.NotContains(t, e.Error(), "pw12")
	}

	joined := analysis.RedactError(errors.Join(errors.New("token=s3cr3t"), strategy.ErrInvalid), "pw12")
	assert.Equal(t, "token=xxxxx\ninvalid input", joined.Error())
	assert.ErrorIs(t, joined, strategy.ErrInvalid)
}

// A provider of the caller's own that puts a URL in its error is masked
// too: measurements are kept in the record and emitted as events.
func TestMeasurementsOfAnyProviderAreRedacted(t *testing.T) {
	t.Parallel()
	p := analysis.Func(func(context.Context, analysis.Query) (analysis.Result, error) {
		return analysis.Result{Raw: `{"token":"r4wSecret"}`}, fmt.Errorf(`Get "https://metrics/q?api_key=f4ncySecret": EOF`)
	})
	var events []strategy.Event
	in := strategy.CheckInput{Clock: fake.NewClock(t0), Emit: func(e strategy.Event) { events = append(events, e) }}
	a := analysis.Analysis{Name: "a", Metrics: []analysis.Metric{{Name: "m", Provider: p, ConsecutiveErrorLimit: ptr.To(0)}}}
	rep, err := a.Run(context.Background(), in)
	require.NoError(t, err)
	require.Len(t, rep.Metrics[0].Measurements, 1)
	m := rep.Metrics[0].Measurements[0]
	assert.Equal(t, `Get "https://metrics/q?api_key=xxxxx": EOF`, m.Message)
	assert.Equal(t, `{"token":"xxxxx"}`, m.Raw)
	assert.NotContains(t, rep.Message, "f4ncySecret")
	require.Len(t, events, 1)
	assert.NotContains(t, events[0].Message, "f4ncySecret")
	assert.NotContains(t, events[0].Measurement.Message, "f4ncySecret")
}
