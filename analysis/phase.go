package analysis

// Phase is the state of a measurement, a metric or a whole run.
type Phase string

// The phases, as Argo Rollouts names them. A measurement is Successful,
// Failed, Error or Inconclusive (Running when a judge has not decided yet).
const (
	PhasePending      Phase = "Pending"
	PhaseRunning      Phase = "Running"
	PhaseSuccessful   Phase = "Successful"
	PhaseFailed       Phase = "Failed"
	PhaseError        Phase = "Error"
	PhaseInconclusive Phase = "Inconclusive"
)

// rank orders phases from best to worst: Successful < Running < Pending <
// Inconclusive < Error < Failed.
var rank = map[Phase]int{
	PhaseSuccessful:   0,
	PhaseRunning:      1,
	PhasePending:      2,
	PhaseInconclusive: 3,
	PhaseError:        4,
	PhaseFailed:       5,
}

// Worse reports whether p is worse than q in the order
// Successful < Running < Pending < Inconclusive < Error < Failed.
func (p Phase) Worse(q Phase) bool { return rank[p] > rank[q] }

// Done reports whether p is final: Successful, Failed, Error or
// Inconclusive.
func (p Phase) Done() bool {
	switch p {
	case PhaseSuccessful, PhaseFailed, PhaseError, PhaseInconclusive:
		return true
	}
	return false
}

// Worst returns the worst of phases, Successful when there are none.
func Worst(phases ...Phase) Phase {
	w := PhaseSuccessful
	for _, p := range phases {
		if p.Worse(w) {
			w = p
		}
	}
	return w
}
