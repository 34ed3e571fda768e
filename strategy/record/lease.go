package record

import "time"

// MaxLeaseDuration bounds how long any lease is honoured without renewal,
// whatever a record says: a lease renewed "in 2999" or for a hundred years
// lapses this long after a driver first saw it unchanged.
const MaxLeaseDuration = 15 * time.Minute

// Span is the lease's duration, bounded by MaxLeaseDuration.
func (l Lease) Span() time.Duration {
	return min(max(l.Duration.Duration, 0), MaxLeaseDuration)
}

// Live reports whether the lease is held at now by its timestamps. A
// driver that watches the record also lets a lease lapse when it has seen
// it unchanged for its whole duration (see strategy.Control.WaitUnlocked), so a
// renewal time in the future cannot hold a release for ever.
func (l Lease) Live(now time.Time) bool {
	return l.Holder != "" && now.Before(l.Expires())
}

// Expires is when the lease lapses if not renewed.
func (l Lease) Expires() time.Time { return l.Renewed.Add(l.Span()) }

// ExpiresSeen is Expires, but never later than one lease from now.
func (l Lease) ExpiresSeen(now time.Time) time.Time {
	if limit := now.Add(l.Span()); l.Expires().After(limit) {
		return limit
	}
	return l.Expires()
}

// Same reports whether l and o are the same grant: nobody renewed or took
// the lease in between.
func (l Lease) Same(o Lease) bool {
	return l.Holder == o.Holder && l.Renewed.Equal(o.Renewed) && l.Acquired.Equal(o.Acquired) &&
		l.Duration == o.Duration
}
