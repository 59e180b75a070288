package projector

import (
	"context"
	"errors"

	"github.com/mcpctl/mcpctl/events"
)

// Refresh folds the events of s's session that came after s.LastSeq onto s, reading them
// straight from the log. A writer that lost a compare-and-set uses it to see what it missed
// without waiting for the KV, which may trail the log by a few milliseconds.
func Refresh(ctx context.Context, log events.Log, s Session) (Session, error) {
	err := log.Read(ctx, events.Query{Node: s.Node, Session: s.Name, AfterSeq: s.LastSeq}, func(e events.Event) error {
		s = Apply(s, e)
		return nil
	})
	return s, err
}

// Stored reads a session as the store (the KV) has it: one round trip, possibly behind
// the log. A session the store does not hold comes back empty but named ({Node, Name}).
func Stored(ctx context.Context, store Store, node, name string) (Session, error) {
	s, err := Load(ctx, store, node, name)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return s, err
	}
	if s.Name == "" {
		s = Session{Node: node, Name: name}
	}
	return s, nil
}

// Current reads a session from the store and folds whatever the store has not caught up
// with yet, straight from the log (a session created a millisecond ago is visible): the
// state a writer decides on. One direct look at the log's last sequence tells whether the
// store is current; only a lagging store costs a read of the session's newer events.
func Current(ctx context.Context, store Store, log events.Log, node, name string) (Session, error) {
	s, err := Stored(ctx, store, node, name)
	if err != nil {
		return s, err
	}
	last, err := log.LastSeq(ctx, node, name)
	if err != nil {
		return s, err
	}
	if last == s.LastSeq {
		return s, nil
	}
	return Refresh(ctx, log, s)
}
