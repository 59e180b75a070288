package events

import (
	"context"
	"time"
)

// Expect is the condition on an append: the sequence of the last event the writer saw for
// the session (0: the session has no events). The append fails with ErrConflict when the
// log's last sequence for the session differs.
type Expect struct {
	// LastSeq is the last sequence the writer saw for the session's subjects.
	LastSeq uint64
	// Any turns the condition off. Only for facts that no one competes for (a bridge's exit
	// recorded by its own supervisor); every change a peer could race is conditional.
	Any bool
	// MsgID makes a retried publish idempotent: the log stores one event per id within its
	// duplicate window. Empty: a fresh id is generated.
	MsgID string
}

// After returns the condition "the session's last event is seq".
func After(seq uint64) Expect { return Expect{LastSeq: seq} }

// Unconditional returns the condition that always holds.
func Unconditional() Expect { return Expect{Any: true} }

// Query selects events. The zero value selects every event from the start of the log.
type Query struct {
	// AfterSeq starts after this sequence (0: from the first event retained).
	AfterSeq uint64
	// Since starts at the first event at or after this time (zero: no bound). When both
	// AfterSeq and Since are set, the later start wins.
	Since time.Time
	// Node and Session narrow the subjects; empty means any.
	Node    string
	Session string
	// Kinds keeps only these kinds (empty: all). Filtered client-side.
	Kinds []Kind
}

// Match reports whether e passes the query's node, session and kind filters.
func (q Query) Match(e Event) bool {
	if q.Node != "" && e.Node != q.Node {
		return false
	}
	if q.Session != "" && e.Session != q.Session {
		return false
	}
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	if e.Seq <= q.AfterSeq {
		return false
	}
	if len(q.Kinds) == 0 {
		return true
	}
	for _, k := range q.Kinds {
		if e.Type == k {
			return true
		}
	}
	return false
}

// Log is the ordered, durable event log. Implementations: events/jetstream (the real one),
// events.MemLog (unit tests of pure logic).
type Log interface {
	// Append stores e under e.Subject() if the condition holds and returns its sequence.
	// A lost compare-and-set returns an error wrapping ErrConflict; an invalid event one
	// wrapping ErrInvalidEvent or ErrInvalidName, and nothing is stored.
	Append(ctx context.Context, e Event, cond Expect) (uint64, error)
	// LastSeq returns the sequence of the session's last event (0: none).
	LastSeq(ctx context.Context, node, session string) (uint64, error)
	// Read calls fn for each event matching q that is in the log when Read starts, in
	// sequence order, and returns when they are done, fn returns an error, or ctx ends.
	// Events that cannot be decoded are passed with Type "" and Seq set, never dropped
	// silently; readers count and skip them.
	Read(ctx context.Context, q Query, fn func(Event) error) error
	// Follow is Read that does not stop at the end: it waits for new events until ctx ends
	// or fn returns an error. It returns ctx's error (or fn's).
	Follow(ctx context.Context, q Query, fn func(Event) error) error
	// Head returns the sequence of the newest event in the log (0: empty).
	Head(ctx context.Context) (uint64, error)
}
