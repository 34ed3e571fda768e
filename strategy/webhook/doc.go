// Package webhook asks HTTP endpoints whether a release may go on, and
// tells them how it goes: switchyard's counterpart of Flagger's webhooks.
//
// Gate and Confirm return a strategy.Check for a strategy's checks, such
// as bluegreen.Spec.PrePromotion; NewNotifier returns a Notifier whose
// Observer goes to strategy.WithObserver.
//
// # Payload
//
// A Gate or a Confirm posts a Payload as JSON: its id, kind ("Gate" or
// "Confirm"), moment (At: BeforeRelease, BeforeStep, BeforePromotion,
// AfterPromotion, OnRollback), check name, strategy (ForStrategy), app,
// namespace, revision, stableRevision, slot, service, metadata
// (WithMetadata), attempt and timestamp (RFC 3339, from the check's
// clock). An endpoint may answer with an Answer, {"decision": "approve" |
// "reject" | "wait", "reason": "..."}; any other body leaves the status
// code to decide.
//
// # Signature
//
// With WithSecret, every request carries
//
//	X-Switchyard-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
//
// as Stripe's webhooks do: the HMAC covers the decimal timestamp, a
// period and the raw body. Receivers check it with Verify, which also
// rejects a timestamp too far from their clock, and accepts any of several
// v1 values, for a rotation of secrets.
//
// # Gates and retries
//
// A Gate passes on a 2xx answer. Connection errors, attempts that time
// out (WithAttemptTimeout, 5s, on the check's clock), 408, 425, 429 and
// 5xx are retried with exponential backoff and ±50% jitter (WithBackoff:
// from 1s, at most 30s), up to WithAttempts requests (5) and within
// WithTimeout, if set; then the check fails with the last error. Other
// answers, {"decision": "reject"} and a decision it does not know fail it
// at once; a 2xx {"decision": "wait"} makes it inconclusive, and the
// strategy pauses the release for a person. Each retry is reported to the
// release's observer as a strategy.EventRetrying.
//
// # Confirm
//
// A Confirm is a manual approval. It asks at once and then every
// WithInterval (30s) until a 2xx answer approves, or a 403, a 409 or a
// {"decision": "reject"} body rejects. Anything else, a 2xx {"decision":
// "wait"} and failed requests included, means "not yet", reported as a
// strategy.EventWaiting whenever the reason changes. It waits until the
// release's context ends, or WithTimeout passes, which fails the check.
//
// Gates and confirms return as soon as the release's context ends (an
// Abort). Their waits use the check's clock (strategy.CheckInput.Clock),
// never the wall clock; with an auto-advancing fake clock they count as
// busy while a request is in flight, so fake time does not pass during
// real I/O. Their errors and events never show the secret, the URL's
// credentials or secret query values, or the values of secret headers
// (see analysis.Redact); the default client follows no redirects. A bad
// configuration is a *strategy.ValidationError from the check's Validate,
// before the release writes anything.
//
// # Notifier delivery
//
// A Notifier posts each event it is given, as a Notification or, with
// Slack, as a {"text": ...} line. Delivery is in order, from one
// goroutine, and at most once in the sense that an event is queued once
// and never re-sent after a 2xx or after it was given up: transient
// failures are retried a few times (WithAttempts, 3), after which the
// event is lost. A retry after a request whose answer was lost can repeat
// a notification; Notification.Seq tells the receiver. The Observer never
// blocks and never fails a release: under pressure the queue
// (WithQueueSize, 256) drops its oldest event, counted in Stats and in
// the next Notification's dropped field. Close flushes the queue until
// its context ends and stops the goroutine. Texts are masked as above.
package webhook
