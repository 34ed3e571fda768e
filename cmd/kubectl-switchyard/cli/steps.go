package cli

import (
	"maps"
	"slices"

	"github.com/switchyard-dev/switchyard/strategy"
	"github.com/switchyard-dev/switchyard/strategy/record"
)

// documentedSteps are the steps of the strategies whose packages document
// a fixed list, by the names the record keeps (bluegreen's package doc
// names its steps; rolling has two). A canary's steps depend on its spec,
// which the record does not hold.
var documentedSteps = map[string][]string{
	"bluegreen": {"deploy", "preview-available", "pre-promotion", "promotion", "full-available",
		"switch", "verify-endpoints", "post-promotion", "scale-down"},
	"rolling": {"apply", "available"},
}

// stepState is where a step of the list stands.
type stepState int

const (
	stepAhead stepState = iota
	stepDone
	stepCurrent
	stepStopped // the release ended Aborted or Failed here
)

// stepLine is one step of the live view's list.
type stepLine struct {
	index int
	name  string
	state stepState
}

// stepLines lists the steps of st's release with the current one marked:
// the documented list when the record's step fits it, else the steps seen
// so far (seen, by index) up to the current one. complete says whether the
// list holds every step.
func stepLines(st *strategy.Status, seen map[int]string) (lines []stepLine, complete bool) {
	if st.StepName == "" {
		return nil, false
	}
	names := map[int]string{}
	list := documentedSteps[st.Strategy]
	// An aborted release keeps the index of the step it stopped at.
	aborting := st.StepName == record.StepAborting
	complete = st.Step < len(list) && (list[st.Step] == st.StepName || aborting)
	if complete {
		for i, n := range list {
			names[i] = n
		}
	} else {
		for i, n := range seen {
			if i <= st.Step {
				names[i] = n
			}
		}
		if _, ok := names[st.Step]; !ok || !aborting {
			names[st.Step] = st.StepName
		}
	}
	for _, i := range slices.Sorted(maps.Keys(names)) {
		lines = append(lines, stepLine{index: i, name: names[i], state: stateOf(i, st)})
	}
	return lines, complete
}

func stateOf(i int, st *strategy.Status) stepState {
	switch {
	case st.Phase == strategy.PhaseSucceeded, i < st.Step:
		return stepDone
	case i > st.Step:
		return stepAhead
	case st.Phase == strategy.PhaseAborted || st.Phase == strategy.PhaseFailed:
		return stepStopped
	}
	return stepCurrent
}
