package projector

import (
	"context"
	"errors"
	"math"
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

// TestRequestRestart_AtTheLargestGenerationFailsAndAppendsNothing: a forged created at
// generation 2^64-1 used to make a restart append generation 0 (which the fold ignores) and
// report that it had started one.
func TestRequestRestart_AtTheLargestGenerationFailsAndAppendsNothing(t *testing.T) {
	ctx := context.Background()
	log := events.NewMemLog()
	c := events.New(events.KindCreated, "n", "forged", math.MaxUint64)
	c.Server = &events.Server{Transport: events.TransportStdio, Command: "srv"}
	seq, err := log.Append(ctx, c, events.After(0))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, events.New(events.KindBridgeReady, "n", "forged", math.MaxUint64), events.After(seq)); err != nil {
		t.Fatal(err)
	}
	s, err := Refresh(ctx, log, Session{Node: "n", Name: "forged"})
	if err != nil || s.Generation != math.MaxUint64 || s.Status != StatusReady {
		t.Fatalf("setup: generation %d status %s err %v", s.Generation, s.Status, err)
	}
	head, _ := log.Head(ctx)
	got, started, err := RequestRestart(ctx, log, s, "test", timeZero)
	var se *events.SessionError
	if !errors.Is(err, events.ErrGenerationsExhausted) || !errors.As(err, &se) || se.Op != "restart" || se.Session != "forged" {
		t.Errorf("RequestRestart at the largest generation: err %v, want a restart SessionError wrapping ErrGenerationsExhausted", err)
	}
	if started || got.Generation != math.MaxUint64 {
		t.Errorf("RequestRestart = generation %d started %v, want it unchanged and not started", got.Generation, started)
	}
	if after, _ := log.Head(ctx); after != head {
		t.Errorf("the log went from %d to %d events: nothing may be appended", head, after)
	}
}

func TestNextGeneration_StopsAtTheLargest(t *testing.T) {
	if g, err := events.NextGeneration(1); g != 2 || err != nil {
		t.Errorf("NextGeneration(1) = %d, %v", g, err)
	}
	if g, err := events.NextGeneration(math.MaxUint64); !errors.Is(err, events.ErrGenerationsExhausted) || g != 0 {
		t.Errorf("NextGeneration(max) = %d, %v; want ErrGenerationsExhausted", g, err)
	}
	for _, k := range []events.Kind{events.KindCreated, events.KindRestartRequested} {
		e := events.New(k, "n", "s", 0)
		e.Server = &events.Server{Transport: events.TransportStdio, Command: "srv"}
		if _, err := events.NewMemLog().Append(context.Background(), e, events.After(0)); !errors.Is(err, events.ErrInvalidEvent) {
			t.Errorf("append %s at generation 0: %v, want ErrInvalidEvent", k, err)
		}
	}
}
