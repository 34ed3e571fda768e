package strategy_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/switchyard-dev/switchyard/strategy"
)

func TestNewClientsSetsARateLimitWhenTheConfigHasNone(t *testing.T) {
	c, err := strategy.NewClients(&rest.Config{Host: "https://127.0.0.1:1"})
	require.NoError(t, err)
	assert.InDelta(t, strategy.DefaultQPS, c.Kube.CoreV1().RESTClient().GetRateLimiter().QPS(), 0.01)

	c, err = strategy.NewClients(&rest.Config{Host: "https://127.0.0.1:1", QPS: 7, Burst: 9})
	require.NoError(t, err)
	assert.InDelta(t, 7, c.Kube.CoreV1().RESTClient().GetRateLimiter().QPS(), 0.01, "a config's own limit is kept")
}
