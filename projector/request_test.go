package projector

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// readySession appends created, bridge_spawned and bridge_ready for a session and returns its
// folded state.
func readySession(t *testing.T, log events.Log, name string) Session {
	t.Helper()
	ctx := context.Background()
	c := events.New(events.KindCreated, "n", name, 1)
	c.Server = &events.Server{Transport: events.TransportStdio, Command: "srv"}
	seq, err := log.Append(ctx, c, events.After(0))
	if err != nil {
		t.Fatal(err)
	}
	sp := events.New(events.KindBridgeSpawned, "n", name, 1)
	sp.PID = 42
	if seq, err = log.Append(ctx, sp, events.After(seq)); err != nil {
		t.Fatal(err)
	}
	if _, err = log.Append(ctx, events.New(events.KindBridgeReady, "n", name, 1), events.After(seq)); err != nil {
		t.Fatal(err)
	}
	s, err := Refresh(ctx, log, Session{Node: "n", Name: name})
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != StatusReady {
		t.Fatalf("setup: status %s, want ready", s.Status)
	}
	return s
}

func TestRequestRestart(t *testing.T) {
	ctx := context.Background()
	t.Run("a ready session gets generation 2", func(t *testing.T) {
		log := events.NewMemLog()
		s := readySession(t, log, "a")
		got, started, err := RequestRestart(ctx, log, s, "test", timeZero)
		if err != nil || !started || got.Generation != 2 || got.Status != StatusRestarting || got.Reason != "test" {
			t.Fatalf("RequestRestart = gen %d status %s started %v err %v, want gen 2 restarting started", got.Generation, got.Status, started, err)
		}
	})
	t.Run("a stale caller joins the restart that beat it", func(t *testing.T) {
		log := events.NewMemLog()
		s := readySession(t, log, "a")
		first, started1, err := RequestRestart(ctx, log, s, "first", timeZero)
		if err != nil || !started1 {
			t.Fatalf("first: started %v err %v", started1, err)
		}
		// The second caller still holds the state from before the first request.
		second, started2, err := RequestRestart(ctx, log, s, "second", timeZero)
		if err != nil || started2 {
			t.Fatalf("second: started %v err %v, want joined", started2, err)
		}
		if second.Generation != first.Generation || second.Reason != "first" {
			t.Fatalf("second sees gen %d reason %q, want gen %d reason first", second.Generation, second.Reason, first.Generation)
		}
		n := 0
		_ = log.Read(ctx, events.Query{Kinds: []events.Kind{events.KindRestartRequested}}, func(events.Event) error { n++; return nil })
		if n != 1 {
			t.Fatalf("restart_requested events = %d, want 1", n)
		}
	})
	t.Run("closed and unknown sessions are errors", func(t *testing.T) {
		log := events.NewMemLog()
		s := readySession(t, log, "a")
		s, closed, err := RequestClose(ctx, log, s, "bye")
		if err != nil || !closed {
			t.Fatalf("close: closed %v err %v", closed, err)
		}
		if _, _, err := RequestRestart(ctx, log, s, "x", timeZero); !errors.Is(err, events.ErrClosed) {
			t.Fatalf("restart of a closed session: %v, want ErrClosed", err)
		}
		if _, _, err := RequestRestart(ctx, log, Session{Node: "n", Name: "nope"}, "x", timeZero); !errors.Is(err, events.ErrNotFound) {
			t.Fatalf("restart of an unknown session: %v, want ErrNotFound", err)
		}
	})
}

func TestRequestClose_SecondCallerFindsItClosed(t *testing.T) {
	ctx := context.Background()
	log := events.NewMemLog()
	s := readySession(t, log, "a")
	if _, closed, err := RequestClose(ctx, log, s, "one"); err != nil || !closed {
		t.Fatalf("first close: closed %v err %v", closed, err)
	}
	got, closed, err := RequestClose(ctx, log, s, "two")
	if err != nil || closed || got.Status != StatusClosed || got.Reason != "one" {
		t.Fatalf("second close: closed %v status %s reason %q err %v, want already closed by one", closed, got.Status, got.Reason, err)
	}
}

var timeZero time.Time
