package webhook

import (
	"time"

	"github.com/switchyard-dev/switchyard/strategy"
)

// Moment is when in a release a gate is asked, as its payload says: the
// moment of strategy.Gates the gate runs at, or the one given with At.
type Moment = strategy.Moment

// The moments of a release, with the Flagger webhooks they stand for:
// BeforeRelease (confirm-rollout, pre-rollout), BeforeStep
// (confirm-traffic-increase, rollout), BeforePromotion (confirm-promotion;
// blue/green's PrePromotion checks), AfterPromotion (post-rollout;
// blue/green's PostPromotion checks) and OnRollback (rollback).
const (
	BeforeRelease   = strategy.BeforeRelease
	BeforeStep      = strategy.BeforeStep
	BeforePromotion = strategy.BeforePromotion
	AfterPromotion  = strategy.AfterPromotion
	OnRollback      = strategy.OnRollback
)

func known(m Moment) bool {
	switch m {
	case "", BeforeRelease, BeforeStep, BeforePromotion, AfterPromotion, OnRollback:
		return true
	}
	return false
}

// Kind says which check sent a payload.
type Kind string

// The kinds of checks.
const (
	KindGate    Kind = "Gate"
	KindConfirm Kind = "Confirm"
)

// Payload is the JSON body a Gate or a Confirm posts. Its field names are
// stable: receivers depend on them.
type Payload struct {
	// ID is the same in every request of one run of the check, retries and
	// a Confirm's repeated questions included, and differs between runs.
	ID   string `json:"id"`
	Kind Kind   `json:"kind"`
	// Moment is the moment of the release's Gates the check runs at
	// (strategy.CheckInput.Moment), else the one given with At, else empty.
	Moment Moment `json:"moment,omitempty"`
	// Check is the check's name.
	Check string `json:"check"`
	// Strategy is the one given with ForStrategy; empty without it.
	Strategy  string `json:"strategy,omitempty"`
	App       string `json:"app"`
	Namespace string `json:"namespace"`
	// Revision is the one being released, StableRevision the one that
	// served before it (empty on a first release).
	Revision       string `json:"revision"`
	StableRevision string `json:"stableRevision,omitempty"`
	// Slot names the Deployment that runs the new revision, Service the
	// Service that reaches it.
	Slot    string `json:"slot,omitempty"`
	Service string `json:"service,omitempty"`
	// Metadata is what WithMetadata gave.
	Metadata map[string]string `json:"metadata,omitempty"`
	// Attempt counts the requests of this run of the check, from 1.
	Attempt int `json:"attempt"`
	// Timestamp is when the request was sent, on the check's clock; the
	// signature's t is the same instant in Unix seconds.
	Timestamp time.Time `json:"timestamp"`
}

// Decision is what an endpoint may answer in the body of its response.
type Decision string

// The decisions an endpoint may give (see Answer).
const (
	Approve Decision = "approve"
	Reject  Decision = "reject"
	Wait    Decision = "wait"
)

// Answer is the JSON body an endpoint may answer with. A body that is not
// a JSON object, or has no decision, leaves the status code to decide.
type Answer struct {
	Decision Decision `json:"decision,omitempty"`
	// Reason is shown in the check's error, secrets masked.
	Reason string `json:"reason,omitempty"`
}

// Notification is the JSON body a Notifier posts for an event, unless it
// posts Slack messages. Its field names are stable.
type Notification struct {
	// Seq numbers the notifications of one Notifier from 1, in the order
	// of the events: a gap is an event dropped or given up, and a repeat
	// is a retry of a request whose answer was lost.
	Seq uint64 `json:"seq"`
	// Dropped counts the events dropped since the previous notification
	// left the queue, because the queue was full.
	Dropped   uint64             `json:"dropped,omitempty"`
	Time      time.Time          `json:"time"`
	Type      strategy.EventType `json:"type"`
	Strategy  string             `json:"strategy,omitempty"`
	App       string             `json:"app"`
	Namespace string             `json:"namespace"`
	Revision  string             `json:"revision,omitempty"`
	Phase     strategy.Phase     `json:"phase,omitempty"`
	// Step is the index of the step in the release's plan, StepName and
	// StepKind its name and what it does (see strategy.Event).
	Step     int    `json:"step"`
	StepName string `json:"stepName,omitempty"`
	StepKind string `json:"stepKind,omitempty"`
	// Traffic is set on Traffic events.
	Traffic *Traffic `json:"traffic,omitempty"`
	Object  string   `json:"object,omitempty"`
	Message string   `json:"message,omitempty"`
	// Error is the event's error, if any, as text.
	Error string `json:"error,omitempty"`
	// Measurement is set on Measurement events.
	Measurement *strategy.Measurement `json:"measurement,omitempty"`
	Metadata    map[string]string     `json:"metadata,omitempty"`
}

// Traffic is how an app's traffic is split (see strategy.Traffic).
type Traffic struct {
	Weight     int32  `json:"weight"`
	CanaryPods int32  `json:"canaryPods"`
	StablePods int32  `json:"stablePods"`
	Service    string `json:"service,omitempty"`
	Slot       string `json:"slot,omitempty"`
}

// SlackMessage is the body a Notifier built with Slack posts.
type SlackMessage struct {
	Text string `json:"text"`
}
