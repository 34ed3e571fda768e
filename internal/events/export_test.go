package events

// WithRetryInterval is withRetryInterval for the external tests.
var WithRetryInterval = withRetryInterval
