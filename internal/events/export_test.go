package events

// What the external tests (fake_test.go) share with the package's own.
var (
	WithRetryInterval = withRetryInterval
	App               = app
	ListEvents        = listEvents
	ByMessage         = byMessage
	WaitFor           = waitFor
)
