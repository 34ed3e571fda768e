package webhook_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/flow"
	"github.com/switchyard-dev/switchyard/strategy/webhook"
)

// validate returns the fields a strategy would reject check for.
func validate(t *testing.T, c strategy.Check) *strategy.ValidationError {
	t.Helper()
	var v strategy.Validator
	flow.ValidateChecks(&v, "spec.prePromotion", []strategy.Check{c})
	var ve *strategy.ValidationError
	if err := v.Err(); err != nil {
		require.ErrorAs(t, err, &ve)
	}
	return ve
}

func TestValidate(t *testing.T) {
	t.Parallel()
	const p = "spec.prePromotion[0]"
	cases := map[string]struct {
		name, url string
		opts      []webhook.Option
		field     string // empty: valid
	}{
		"valid":                 {name: "smoke", url: "https://hooks.example.com/smoke"},
		"not http":              {name: "smoke", url: "ftp://hooks.example.com/smoke", field: p + ".webhook.url"},
		"no host":               {name: "smoke", url: "http:///smoke", field: p + ".webhook.url"},
		"relative":              {name: "smoke", url: "/smoke", field: p + ".webhook.url"},
		"does not parse":        {name: "smoke", url: "http://[::1", field: p + ".webhook.url"},
		"empty name":            {url: "https://hooks.example.com", field: p + ".name"},
		"negative timeout":      {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithTimeout(-1)}, field: p + ".webhook.timeout"},
		"negative attempt":      {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithAttemptTimeout(-time.Second)}, field: p + ".webhook.attemptTimeout"},
		"negative interval":     {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithInterval(-time.Second)}, field: p + ".webhook.interval"},
		"negative backoff":      {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithBackoff(-time.Second, 0)}, field: p + ".webhook.backoff.initial"},
		"max below initial":     {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithBackoff(time.Minute, time.Second)}, field: p + ".webhook.backoff.max"},
		"negative attempts":     {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithAttempts(-1)}, field: p + ".webhook.attempts"},
		"unknown moment":        {name: "s", url: "https://h", opts: []webhook.Option{webhook.At("Later")}, field: p + ".webhook.moment"},
		"empty secret":          {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithSecret(nil)}, field: p + ".webhook.secret"},
		"bad header name":       {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithHeader("X Token", "v")}, field: p + ".webhook.headers"},
		"header with a break":   {name: "s", url: "https://h", opts: []webhook.Option{webhook.WithHeader("X-Token", "a\r\nb")}, field: p + ".webhook.headers.X-Token"},
		"every moment is known": {name: "s", url: "https://h", opts: []webhook.Option{webhook.At(webhook.OnRollback)}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, c := range []strategy.Check{webhook.Gate(tc.name, tc.url, tc.opts...), webhook.Confirm(tc.name, tc.url, tc.opts...)} {
				ve := validate(t, c)
				if tc.field == "" {
					assert.Nil(t, ve)
					continue
				}
				require.NotNil(t, ve)
				assert.True(t, ve.Has(tc.field), ve.Error())
				assert.Len(t, ve.Fields, 1, "each error once: %v", ve)
			}
		})
	}
}

// A check with a bad configuration that runs anyway fails at once, and
// sends nothing.
func TestInvalidCheckFailsWithoutARequest(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	for _, c := range []strategy.Check{
		webhook.Gate("bad", srv.URL, webhook.WithAttempts(-1)),
		webhook.Confirm("bad", srv.URL, webhook.WithInterval(-1)),
	} {
		err := c.Func(context.Background(), strategy.CheckInput{})
		require.ErrorIs(t, err, strategy.ErrInvalid)
	}
	assert.Zero(t, srv.count())
}

// The secrets a check knows: the URL's password and token, secret headers
// and the signing secret. A careless server echoes them all.
var secrets = []string{"p4ssw0rd-url", "s3cr3t-query", "t0k3n-value", "k3y-value", string(secret)}

func secretOptions() []webhook.Option {
	return []webhook.Option{webhook.WithSecret(secret), webhook.WithHeader("Authorization", "Bearer t0k3n-value"),
		webhook.WithHeader("X-Api-Key", "k3y-value"), webhook.WithAttempts(2), webhook.WithMetadata(map[string]string{"note": string(secret)})}
}

func secretURL(base string) string {
	return strings.Replace(base, "http://", "http://deploy:p4ssw0rd-url@", 1) + "/hook?token=s3cr3t-query&team=web"
}

func assertNoSecret(t *testing.T, text string) {
	t.Helper()
	for _, s := range secrets {
		assert.NotContains(t, text, s)
	}
}

func TestSecretsNeverShow(t *testing.T) {
	t.Parallel()
	echo := "$request " + strings.Join(secrets, " ")
	cases := map[string]struct {
		answers []answer
		check   func(string, string, ...webhook.Option) strategy.Check
	}{
		"gate, 400":           {answers: []answer{{status: 400, body: echo}}, check: webhook.Gate},
		"gate, 500 twice":     {answers: []answer{{status: 500, body: echo}}, check: webhook.Gate},
		"gate, rejected":      {answers: []answer{{status: 200, body: `{"decision":"reject","reason":"` + strings.Join(secrets, " ") + `"}`}}, check: webhook.Gate},
		"confirm, rejected":   {answers: []answer{{status: 404, body: echo}, {status: 403, body: echo}}, check: webhook.Confirm},
		"gate, nothing there": {check: webhook.Gate},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, tc.answers...)
			url := secretURL(srv.URL)
			if tc.answers == nil {
				srv.Close()
			}
			r := runCheck(t, tc.check("leaky", url, append(secretOptions(), webhook.WithInterval(interval), webhook.WithAttemptTimeout(time.Hour))...))
			r.stepUntil(t, "the end", interval, func() bool { return len(r.done) > 0 })
			err := r.result(t)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "xxxxx", "masked, not left out")
			assertNoSecret(t, err.Error())
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				assertNoSecret(t, e.Error())
			}
			var re *webhook.ResponseError
			if errors.As(err, &re) {
				assertNoSecret(t, re.URL+" "+re.Detail)
			}
			for len(r.events) > 0 {
				e := <-r.events
				assertNoSecret(t, e.String())
			}
		})
	}
}

func TestValidationShowsNoSecret(t *testing.T) {
	t.Parallel()
	for _, url := range []string{
		"ftp://deploy:p4ssw0rd-url@hooks.example.com/?token=s3cr3t-query",
		"http://deploy:p4ssw0rd-url@[::1/?token=s3cr3t-query",
		"deploy:p4ssw0rd-url@hooks.example.com/?token=s3cr3t-query",
	} {
		ve := validate(t, webhook.Gate("leaky", url, secretOptions()...))
		require.NotNil(t, ve, url)
		assertNoSecret(t, ve.Error())
	}
}
