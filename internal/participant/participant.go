// Package participant registers goroutines with a clock that moves itself
// when every participant waits (the fake cluster's clock in auto-advance
// mode). With any other clock registration does nothing.
package participant

// participant is implemented by clocks that move themselves when every
// participant waits (fake.Clock in auto-advance mode).
type participant interface {
	Track() (idle, busy, done func())
}

// joiner is implemented by clocks with a race-free protocol of waits
// (fake.Clock.Join).
type joiner interface {
	Join(name string) (idle func() bool, busy, wake, done func())
}

// Join registers the caller, named name, with a clock that moves itself
// when every participant waits; see fake.Clock.Join. With a clock that
// only has Track, idle always reports true and wake is busy.
func Join(clk any, name string) (idle func() bool, busy, wake, done func()) {
	if j, ok := clk.(joiner); ok {
		return j.Join(name)
	}
	i, b, dn := Track(clk)
	return func() bool { i(); return true }, b, b, dn
}

// Track registers the caller with a clock that moves itself when every
// participant waits (fake.Clock in auto-advance mode): the caller calls
// idle right before it blocks, busy right after it wakes, and done when it
// finishes. With any other clock the functions do nothing.
func Track(clk any) (idle, busy, done func()) {
	if p, ok := clk.(participant); ok {
		return p.Track()
	}
	nop := func() {}
	return nop, nop, nop
}

// Moves reports whether clk moves itself when every participant waits
// (the fake cluster's clock), so that registering with it matters.
func Moves(clk any) bool {
	_, ok := clk.(participant)
	return ok
}
