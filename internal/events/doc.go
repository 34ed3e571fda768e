// Package events writes corev1 Events about release records without ever
// making the release that reports them wait for the API server.
//
// Emit builds the Event (about the release record ConfigMap of the app,
// stamped with the Sink's clock) and queues it; it returns at once. One
// goroutine of the Sink takes the queue in order, passes each Event through
// client-go's EventCorrelator (k8s.io/client-go/tools/record) and writes
// what comes out. The correlator counts repeats of the same reason and
// message about the same record from the same driver on one Event (Count
// and LastTimestamp grow), combines ten or more similar Events (same
// reason, other messages) within ten minutes into one, and rate limits
// each driver per record and type (a burst of 25, then one every five
// minutes); its windows and buckets run on the Sink's clock.
//
// Events are best effort. When the API server is slow or down the queue
// holds up to 1000 Events and drops the rest; transient write errors are
// retried in the background (real time: up to 12 tries, 10s apart), other
// errors drop the Event; nothing is reported to the caller.
//
// Repeats are counted with Update, not Patch, so a driver needs the verbs
// create and update on events, as before.
//
// # Ownership
//
// A Sink serves every release one process drives. Whoever builds the
// process's clients (the program, or the strategy configuration made for
// it) makes one Sink with New, hands it to every driver, and calls Close
// once when the process shuts down. Drivers only call Emit; a nil *Sink
// emits nothing, for configurations that turn Events off. Close writes
// what is queued within a bound and returns with no goroutine of the Sink
// left running; Emit after Close does nothing.
package events
