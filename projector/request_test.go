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

// The restart rule with the caller's start time injected: a ready generation satisfies a
// restart asked for at since when it was not ready yet at since.
func TestSession_Satisfies(t *testing.T) {
	at := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return at.Add(time.Duration(n) * time.Millisecond) }
	ready := func(requested, readyAt time.Time) Session {
		return Session{Status: StatusReady, Generation: 2, RequestedAt: requested, ReadyAt: readyAt}
	}
	for _, tc := range []struct {
		name  string
		s     Session
		since time.Time
		want  bool
	}{
		{"requested after the caller started", ready(ms(10), ms(60)), ms(0), true},
		{"requested before, still starting when the caller started (a shell loop's late child)", ready(ms(0), ms(60)), ms(30), true},
		{"ready the instant the caller started", ready(ms(0), ms(60)), ms(60), true},
		{"ready before the caller started (restart; restart)", ready(ms(0), ms(60)), ms(61), false},
		{"no start time: never", ready(ms(10), ms(60)), time.Time{}, false},
		{"crashed since: not ready", Session{Status: StatusCrashed, RequestedAt: ms(10), ReadyAt: ms(60)}, ms(0), false},
		{"still restarting: the state rule joins it, not this", Session{Status: StatusRestarting, RequestedAt: ms(10)}, ms(0), false},
		{"ready time unknown, requested after", ready(ms(10), time.Time{}), ms(0), true},
		{"ready time unknown, requested before", ready(ms(0), time.Time{}), ms(10), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.s.Satisfies(tc.since); got != tc.want {
				t.Errorf("%s at %v (requested %v, ready %v) satisfies a restart asked at %v = %v, want %v",
					tc.s.Status, tc.s.Generation, tc.s.RequestedAt, tc.s.ReadyAt, tc.since, got, tc.want)
			}
		})
	}
}

// RequestRestart with a start time: a caller that started while generation 2 was starting
// joins it once ready; one that started after it was ready asks for generation 3.
func TestRequestRestart_CallerStartTime(t *testing.T) {
	ctx := context.Background()
	log := events.NewMemLog()
	s := readySession(t, log, "a")
	started := time.Now() // the caller's process starts...
	s2, ok, err := RequestRestart(ctx, log, s, "first", time.Time{})
	if err != nil || !ok {
		t.Fatalf("first request: %v %v", ok, err)
	}
	sp := events.New(events.KindBridgeSpawned, "n", "a", 2)
	sp.PID = 43
	seq, err := log.Append(ctx, sp, events.After(s2.LastSeq))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.Append(ctx, events.New(events.KindBridgeReady, "n", "a", 2), events.After(seq)); err != nil {
		t.Fatal(err)
	}
	s2, err = Refresh(ctx, log, s2)
	if err != nil || s2.Status != StatusReady {
		t.Fatalf("setup: %s %v", s2.Status, err)
	}
	// ...and its code gets to run only now, generation 2 ready: it was pending at its start.
	late := s2
	late.RequestedAt = started.Add(-time.Millisecond) // requested just before it started
	got, ok, err := RequestRestart(ctx, log, late, "late child", started)
	if err != nil || ok || got.Generation != 2 {
		t.Errorf("caller started while generation 2 was starting: gen %d started %v err %v; want to join 2", got.Generation, ok, err)
	}
	after := s2.ReadyAt.Add(time.Millisecond)
	got, ok, err = RequestRestart(ctx, log, s2, "next command", after)
	if err != nil || !ok || got.Generation != 3 {
		t.Errorf("caller started after generation 2 was ready: gen %d started %v err %v; want generation 3", got.Generation, ok, err)
	}
}

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
