package e2e

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/utils/ptr"

	"github.com/switchyard-dev/switchyard/bluegreen"
	"github.com/switchyard-dev/switchyard/internal/e2ekit"
	"github.com/switchyard-dev/switchyard/strategy"
)

// abortableCheck is how long the post-promotion check of the
// "abortable-check" profile lasts when nothing cancels it.
const abortableCheck = 5 * time.Second

// TestAbortSurvivesAKilledDriver aborts a release from another process
// during its post-promotion check (after the switch, with no rollback
// window) and kills its driver with SIGKILL while it carries the abort
// out: right after the write of the record that takes the request, and
// right after the write that points the active Service back at v1, before
// the record says the release is aborted. The abort was accepted, so the
// next driver must finish it: the release ends Aborted, traffic stays on
// v1's slot, which keeps its three pods, and the active Service never has
// fewer than three ready endpoints.
func TestAbortSurvivesAKilledDriver(t *testing.T) {
	record := strategy.RecordName(appName)
	cases := []struct {
		name string
		stop e2ekit.WriteMatch
	}{
		// The record's writes before the abort: the lease, the release's
		// start, preview-available, verify-endpoints and post-promotion.
		{"after the request is taken", e2ekit.WriteMatch{Resource: "configmaps", Name: record, Nth: 6}},
		{"after traffic went back", e2ekit.WriteMatch{Resource: "services", Name: appName, Nth: 2}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			kc := e.kubeconfig()
			v1 := baseSpec()
			v1.RollbackWindow = ptr.To(0)
			e.run(e.strategy(v1, strategy.WithIdentity("driver-1")), "v1")
			e.servesOnly(bluegreen.Blue)
			blueGen := e.slotGeneration(bluegreen.Blue)
			records := e2ekit.WatchRecord(t, e.ctx, e.kube, e.app)
			from := records.Mark()

			p := e.eps.Begin()
			d := e.startDriver(kc, driverArgs{Profile: "abortable-check", Revision: "v2", Identity: "driver-1", StopAt: &tc.stop})
			_, err := records.WaitFor(e.ctx, from, "the post-promotion check", func(v e2ekit.RecordVersion) bool {
				return v.Record.Revision == "v2" && v.Record.StepName == "post-promotion"
			})
			require.NoError(t, err)
			o := e.controlFromProcess(kc, strategy.ActionAbort, "")
			require.Empty(t, o.Err, "the abort is accepted")
			m, err := d.Next(e.ctx, "stopped")
			require.NoError(t, err, "the driver makes the write to stop after")
			var writes []e2ekit.Write
			require.NoError(t, json.Unmarshal(m.Data, &writes))
			require.NoError(t, d.Kill())
			_ = d.Wait(e.ctx)
			require.True(t, d.Killed(), "the driver ended by SIGKILL")
			st, err := e.control.Status(e.ctx, e.app)
			require.NoError(t, err)
			active, _ := e.selectors()
			t.Logf("killed after %s: the record says phase %s, step %q, %d pending requests; the active Service selects %s",
				writes[len(writes)-1], st.Phase, st.StepName, len(st.Pending), active[strategy.LabelSlot])

			_, _, took, res, err := e.resumeRun("abortable-check", "driver-1", 0)
			t.Logf("the next driver's Run took %s: %v, %+v", took.Round(time.Millisecond), err, res)
			assert.ErrorIs(t, err, strategy.ErrAborted, "the accepted abort is carried out")
			got := e.observe()
			low := p.Check(t, "abort, driver killed "+tc.name+", resumed", replicas)
			t.Logf("minimum ready endpoints %d", low)
			assert.Equal(t, endState{Blue: slotState{"v1", 3, 3, 3}, Green: slotState{"v2", 0, 0, 0}, Active: "blue", Preview: "green",
				Phase: strategy.PhaseAborted, Revision: "v2", Stable: "v1"}, got)
			assert.Equal(t, blueGen, e.slotGeneration(bluegreen.Blue), "v1's slot was never scaled down")
		})
	}
}
