package projector

import (
	"context"
	"errors"
	"testing"

	"github.com/mcpctl/mcpctl/events"
)

// restartDecision is the restart rule as a Decide, for the tests of Update: join a pending
// generation, refuse a closed or unknown session, else request the next generation.
func restartDecision(reason string, calls *int) Decide {
	return func(cur Session) (*events.Event, error) {
		*calls++
		switch {
		case cur.Status == "" || cur.Cleaned:
			return nil, events.ErrNotFound
		case !cur.IsOpen():
			return nil, events.ErrClosed
		case cur.Status == StatusStarting || cur.Status == StatusRestarting:
			return nil, nil
		}
		e := events.New(events.KindRestartRequested, cur.Node, cur.Name, cur.Generation+1)
		e.Reason = reason
		return &e, nil
	}
}

func countKind(t *testing.T, log events.Log, k events.Kind) int {
	t.Helper()
	n := 0
	if err := log.Read(context.Background(), events.Query{Kinds: []events.Kind{k}}, func(events.Event) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// readyFixture is a memory log holding one ready session, @a at generation 1.
func readyFixture(t *testing.T) (context.Context, *events.MemLog, Session) {
	t.Helper()
	log := events.NewMemLog()
	return context.Background(), log, readySession(t, log, "a")
}

// wantJoined checks that got is the one pending generation 2, requested for reason, and
// that the log holds that one request only.
func wantJoined(t *testing.T, log events.Log, got Session, reason string) {
	t.Helper()
	if got.Generation != 2 || got.Status != StatusRestarting || got.Reason != reason {
		t.Fatalf("joined state = gen %d status %s reason %q, want gen 2 restarting reason %q", got.Generation, got.Status, got.Reason, reason)
	}
	if n := countKind(t, log, events.KindRestartRequested); n != 1 {
		t.Fatalf("restart_requested events = %d, want 1", n)
	}
}

func TestUpdate_StartAppendsAndReturnsTheFoldedState(t *testing.T) {
	ctx, log, s := readyFixture(t)
	calls := 0
	got, seq, err := Update(ctx, log, s, nil, restartDecision("start", &calls))
	if err != nil || seq == 0 {
		t.Fatalf("Update on a ready session = seq %d err %v, want an append", seq, err)
	}
	if got.Generation != 2 || got.Status != StatusRestarting || got.LastSeq != seq || got.Reason != "start" {
		t.Fatalf("state after = gen %d status %s last seq %d reason %q, want gen 2 restarting at seq %d reason start",
			got.Generation, got.Status, got.LastSeq, got.Reason, seq)
	}
	if calls != 1 {
		t.Fatalf("decide called %d times, want 1", calls)
	}
}

func TestUpdate_JoinAppendsNothingWhenARestartIsPending(t *testing.T) {
	ctx, log, s := readyFixture(t)
	pending, _, err := RequestRestart(ctx, log, s, "first", timeZero)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	got, seq, err := Update(ctx, log, pending, nil, restartDecision("second", &calls))
	if err != nil || seq != 0 {
		t.Fatalf("Update with a restart pending = seq %d err %v, want a join (seq 0, no error)", seq, err)
	}
	wantJoined(t, log, got, "first")
}

func TestUpdate_ClosedSessionIsDecideError(t *testing.T) {
	ctx, log, s := readyFixture(t)
	closed, _, err := RequestClose(ctx, log, s, "bye")
	if err != nil {
		t.Fatal(err)
	}
	head, _ := log.Head(ctx)
	calls := 0
	got, seq, err := Update(ctx, log, closed, nil, restartDecision("x", &calls))
	if !errors.Is(err, events.ErrClosed) || seq != 0 {
		t.Fatalf("Update on a closed session = seq %d err %v, want ErrClosed and no append", seq, err)
	}
	if got.Status != StatusClosed {
		t.Fatalf("state returned = %s, want closed (what decide saw)", got.Status)
	}
	if after, _ := log.Head(ctx); after != head {
		t.Fatalf("log head %d -> %d, want nothing appended", head, after)
	}
}

func TestUpdate_NotFoundIsDecideError(t *testing.T) {
	ctx := context.Background()
	log := events.NewMemLog()
	calls := 0
	_, seq, err := Update(ctx, log, Session{Node: "n", Name: "nope"}, nil, restartDecision("x", &calls))
	if !errors.Is(err, events.ErrNotFound) || seq != 0 {
		t.Fatalf("Update on an unknown session = seq %d err %v, want ErrNotFound and no append", seq, err)
	}
	if head, _ := log.Head(ctx); head != 0 {
		t.Fatalf("log head = %d, want an empty log", head)
	}
}

// Another writer appends between the loser's read and its append: the loser's append
// fails, it folds the winner's event from the log and joins it.
func TestUpdate_ConflictThenJoin(t *testing.T) {
	ctx, log, s := readyFixture(t)
	calls := 0
	inner := restartDecision("loser", &calls)
	competed := false
	decide := func(cur Session) (*events.Event, error) {
		if !competed {
			competed = true
			if _, _, err := RequestRestart(ctx, log, cur, "winner", timeZero); err != nil {
				t.Fatalf("competing writer: %v", err)
			}
		}
		return inner(cur)
	}
	got, seq, err := Update(ctx, log, s, nil, decide)
	if err != nil || seq != 0 {
		t.Fatalf("loser's Update = seq %d err %v, want a join after the conflict", seq, err)
	}
	if calls != 2 {
		t.Fatalf("decide called %d times, want 2 (once before the conflict, once after the refresh)", calls)
	}
	wantJoined(t, log, got, "winner")
}

// A retried append under the same message id is recognized, not stored twice.
func TestUpdate_MsgIDStoresARetriedAppendOnce(t *testing.T) {
	ctx, log, s := readyFixture(t)
	decide := func(cur Session) (*events.Event, error) {
		e := events.New(events.KindServerLost, cur.Node, cur.Name, cur.Generation)
		return &e, nil
	}
	_, first, err := Update(ctx, log, s, func() string { return "id-1" }, decide)
	if err != nil || first == 0 {
		t.Fatalf("first Update = seq %d err %v", first, err)
	}
	_, again, err := Update(ctx, log, s, func() string { return "id-1" }, decide)
	if err != nil || again != first {
		t.Fatalf("retried Update = seq %d err %v, want the first append's seq %d", again, err, first)
	}
	if n := countKind(t, log, events.KindServerLost); n != 1 {
		t.Fatalf("server_lost events = %d, want 1", n)
	}
}
