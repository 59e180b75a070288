package jstest

import (
	"context"
	"testing"

	"github.com/mcpctl/mcpctl/events"
)

// MustAppend appends e under cond and fails the test when the append fails.
func MustAppend(t testing.TB, l events.Log, e events.Event, cond events.Expect) uint64 {
	t.Helper()
	seq, err := l.Append(context.Background(), e, cond)
	if err != nil {
		t.Fatalf("append %s @%s: %v", e.Type, e.Session, err)
	}
	return seq
}

// Created is a valid created event for a stdio session.
func Created(node, session string) events.Event {
	e := events.New(events.KindCreated, node, session, 1)
	e.Server = &events.Server{Transport: events.TransportStdio, Command: "true"}
	return e
}

// ReadAll returns the events matching q that are in the log now.
func ReadAll(t testing.TB, l events.Log, q events.Query) []events.Event {
	t.Helper()
	var out []events.Event
	if err := l.Read(context.Background(), q, func(e events.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("read %+v: %v", q, err)
	}
	return out
}

// Seqs returns the events' sequences.
func Seqs(evs []events.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}
