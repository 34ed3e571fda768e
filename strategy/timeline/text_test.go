package timeline_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/switchyard-dev/switchyard/strategy/timeline"
)

func TestText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	require.NoError(t, timeline.Text(&b, abortedStatus()))
	assert.Equal(t, `web in default: canary v3, Aborted (AnalysisFailed), serving v2, started 2026-03-01 12:00:00.000 UTC
TIME          SINCE START  KIND         WHAT
12:00:00.000  +0:00        phase        Progressing
12:00:00.000  +0:00        step         step 0 deploy
12:00:00.000  +0:00        step         step 1 0-SetWeight
12:00:06.000  +0:06        traffic      weight 10% (pods: canary 1, stable 9)
12:00:06.000  +0:06        step         step 2 1-Analysis
12:00:26.000  +0:26        measurement  latency/p99 0.21 Successful (limit not result > 0.3)
12:00:26.000  +0:26        measurement  errors/error-ratio 0.02 Successful (limit result <= 0.05)
12:00:46.000  +0:46        measurement  latency/p99 0.25 Successful (limit not result > 0.3)
12:00:46.000  +0:46        measurement  errors/error-ratio 0.09 Failed (limit result <= 0.05): result 0.09 not <= 0.05
12:01:00.000  +1:00        request      Pause by alice@example
12:01:00.000  +1:00        phase        Paused
12:01:06.000  +1:06        resumed      continued by deployer-2: resuming at step 2 (1-Analysis)
12:01:06.000  +1:06        measurement  latency/p99 [0.1 0.2] Inconclusive (limit not result > 0.3)
12:01:06.000  +1:06        measurement  errors/error-ratio - Error (limit result <= 0.05): connection refused
12:01:30.000  +1:30        request      Resume by alice@example
12:01:30.000  +1:30        phase        Progressing
12:01:46.000  +1:46        measurement  errors/error-ratio 0.11 Failed (limit result <= 0.05): result 0.11 not <= 0.05
12:01:46.000  +1:46        check        Failed: check errors failed
12:01:46.000  +1:46        phase        Aborted (AnalysisFailed): check errors failed
12:01:52.000  +1:52        rollback     traffic back to the previous revision: all traffic back on stable slot blue
`, b.String())
}

func TestTextWithoutTimeline(t *testing.T) {
	t.Parallel()
	st := abortedStatus()
	st.Timeline = nil
	var b bytes.Buffer
	require.NoError(t, timeline.Text(&b, st))
	assert.Equal(t, "web in default: canary v3, Aborted (AnalysisFailed), serving v2, started 2026-03-01 12:00:00.000 UTC\nNo timeline recorded.\n", b.String())
}
