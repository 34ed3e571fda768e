package timeline

import "time"

// Option changes how a timeline is drawn or listed. Only this package
// makes Options.
type Option interface {
	apply(*config)
}

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	width int
	loc   *time.Location
}

// DefaultWidth is the width of a picture, in pixels, without WithWidth.
const DefaultWidth = 960

// WithWidth sets the width of the picture in pixels (at least 480).
func WithWidth(px int) Option {
	return optionFunc(func(c *config) { c.width = max(px, 480) })
}

// WithLocation sets the time zone of the clock times shown; the default
// is UTC.
func WithLocation(loc *time.Location) Option {
	return optionFunc(func(c *config) {
		if loc != nil {
			c.loc = loc
		}
	})
}

func newConfig(opts []Option) config {
	c := config{width: DefaultWidth, loc: time.UTC}
	for _, o := range opts {
		o.apply(&c)
	}
	return c
}
