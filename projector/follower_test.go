package projector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// hookStore is a MemStore whose Put can be made to fail, and that counts writes per key.
type hookStore struct {
	*MemStore
	mu     sync.Mutex
	puts   map[string]int
	failOn func(key string) error
}

func newHookStore() *hookStore { return &hookStore{MemStore: NewMemStore(), puts: map[string]int{}} }

func (h *hookStore) Put(ctx context.Context, key string, value []byte) error {
	h.mu.Lock()
	fail := h.failOn
	h.mu.Unlock()
	if fail != nil {
		if err := fail(key); err != nil {
			return err
		}
	}
	h.mu.Lock()
	h.puts[key]++
	h.mu.Unlock()
	return h.MemStore.Put(ctx, key, value)
}

func (h *hookStore) setFail(f func(key string) error) {
	h.mu.Lock()
	h.failOn = f
	h.mu.Unlock()
}

func (h *hookStore) takePuts() map[string]int {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.puts
	h.puts = map[string]int{}
	return p
}

var errInjected = errors.New("injected store failure")

func openFollower(t *testing.T, log events.Log, store Store, live bool) *Follower {
	t.Helper()
	f := NewFollower(log, store)
	f.Live = live
	f.RetryInterval = 10 * time.Millisecond
	if err := f.Open(context.Background()); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// requireStoreEqualsFold checks that the store holds exactly a fresh fold of the log.
func requireStoreEqualsFold(t *testing.T, log events.Log, store Store) {
	t.Helper()
	ctx := context.Background()
	stored, err := LoadAll(ctx, store, "")
	if err != nil {
		t.Fatalf("LoadAll: %v", err)
	}
	fresh, err := Fold(ctx, log, events.Query{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := stored.Equal(fresh); len(d) > 0 {
		t.Fatalf("store (a) differs from a fresh fold (b):\n  %s", strings.Join(d, "\n  "))
	}
}

// lifecycle returns a realistic history of one session: created, ready, a restart to
// generation 2, the old bridge's exit.
func lifecycle(node, name string) []events.Event {
	return []events.Event{
		on(node, name, ev(events.KindCreated, 1)),
		on(node, name, ev(events.KindBridgeSpawned, 1)),
		on(node, name, ev(events.KindBridgeReady, 1)),
		on(node, name, ev(events.KindRestartRequested, 2)),
		on(node, name, ev(events.KindBridgeSpawned, 2)),
		on(node, name, ev(events.KindBridgeExited, 1, withCode(0))),
		on(node, name, ev(events.KindBridgeReady, 2)),
	}
}

func TestFollower_SyncMaterializesTheFold(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), NewMemStore()
	appendAll(t, log, lifecycle("n1", "a")...)
	appendAll(t, log, lifecycle("n1", "b")[:3]...)
	f := openFollower(t, log, store, false)
	if err := f.Sync(ctx); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	if f.Pos() != 10 {
		t.Errorf("Pos() = %d, want 10", f.Pos())
	}
	requireStoreEqualsFold(t, log, store)

	s, err := Load(ctx, store, "n1", "a")
	if err != nil || s.Status != StatusReady || s.Generation != 2 || s.LastSeq != 7 {
		t.Errorf("Load(n1, a) = %s g%d seq %d, %v; want ready g2 seq 7", s.Status, s.Generation, s.LastSeq, err)
	}
	if _, err := Load(ctx, store, "n1", "zz"); !errors.Is(err, events.ErrNotFound) {
		t.Errorf("Load(n1, zz): err %v, want ErrNotFound", err)
	}
	if pos, err := Position(ctx, store); pos != 10 || err != nil {
		t.Errorf("Position = %d, %v; want 10", pos, err)
	}
	if got, _ := f.Get("n1", "b"); got.Status != StatusReady {
		t.Errorf("follower Get(n1, b) = %s, want ready", got.Status)
	}
	if got := f.List("n1"); len(got) != 2 {
		t.Errorf("follower List(n1) has %d sessions, want 2", len(got))
	}
	p, err := LoadAll(ctx, store, "n2")
	if err != nil || len(p.Sessions) != 0 || p.Pos != 10 {
		t.Errorf("LoadAll(n2) = %d sessions at %d, %v; want none at 10", len(p.Sessions), p.Pos, err)
	}
}

func TestFollower_WritesOnlyChangedSessions(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), newHookStore()
	appendAll(t, log, lifecycle("n1", "a")...)
	appendAll(t, log, lifecycle("n1", "b")...)
	f := openFollower(t, log, store, false)
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.takePuts(); got["n1.a"] != 1 || got["n1.b"] != 1 || got[PositionKey] != 1 {
		t.Errorf("first Sync wrote %v, want each session and the position once", got)
	}

	appendAll(t, log, on("n1", "b", ev(events.KindClosed, 2)))
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.takePuts(); len(got) != 2 || got["n1.b"] != 1 || got[PositionKey] != 1 {
		t.Errorf("Sync after closing b wrote %v, want only n1.b and the position", got)
	}

	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if got := store.takePuts(); len(got) != 0 {
		t.Errorf("Sync with nothing new wrote %v", got)
	}
}

func TestFollower_OnChange(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), NewMemStore()
	appendAll(t, log, lifecycle("n1", "a")[:3]...)
	var changes []string
	f := NewFollower(log, store)
	f.Live = false
	f.OnChange = func(old, new Session) {
		// The store holds the new value when we are told.
		stored, err := Load(ctx, store, new.Node, new.Name)
		if err != nil || stored.LastSeq != new.LastSeq {
			t.Errorf("OnChange(%s) before the store has it: %v, stored seq %d", new.Name, err, stored.LastSeq)
		}
		changes = append(changes, fmt.Sprintf("%s:%s->%s", new.Name, old.Status, new.Status))
	}
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	appendAll(t, log, on("n1", "a", ev(events.KindClosed, 1)))
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	// Catch-up reports the net change of each session once.
	if got := strings.Join(changes, " "); got != "a:->ready a:ready->closed" {
		t.Errorf("OnChange calls: %q, want \"a:->ready a:ready->closed\"", got)
	}
}

func TestFollower_RestartContinuesFromTheStoredPosition(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), newHookStore()
	appendAll(t, log, lifecycle("n1", "a")...)
	first := openFollower(t, log, store, false)
	if err := first.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	first.Close()
	store.takePuts()

	appendAll(t, log, lifecycle("n1", "b")...)
	appendAll(t, log, on("n1", "a", ev(events.KindClosed, 2)))

	second := openFollower(t, log, store, false)
	if second.Pos() != 7 {
		t.Errorf("a new follower starts at %d, want the stored position 7", second.Pos())
	}
	if err := second.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	requireStoreEqualsFold(t, log, store)
	if got := store.takePuts(); got["n1.a"] != 1 || got["n1.b"] != 1 {
		t.Errorf("the restarted follower wrote %v, want n1.a once (closed) and n1.b once", got)
	}
}

func TestFollower_CrashBetweenSessionAndPositionWritesConverges(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), newHookStore()
	appendAll(t, log, lifecycle("n1", "a")[:3]...)
	first := openFollower(t, log, store, false)
	if err := first.Sync(ctx); err != nil {
		t.Fatal(err)
	}

	// The sessions get written, the position write fails: the stored sessions are ahead
	// of the stored position.
	appendAll(t, log, lifecycle("n1", "a")[3:]...)
	appendAll(t, log, lifecycle("n1", "b")...)
	store.setFail(func(key string) error {
		if key == PositionKey {
			return errInjected
		}
		return nil
	})
	if err := first.Sync(ctx); !errors.Is(err, errInjected) {
		t.Fatalf("Sync with a failing position write: err %v, want the injected failure", err)
	}
	if pos, _ := Position(ctx, store); pos != 3 {
		t.Fatalf("stored position %d after the failed write, want 3", pos)
	}
	stored, _ := Load(ctx, store, "n1", "a")
	if stored.LastSeq != 7 {
		t.Fatalf("stored n1.a at seq %d, want 7 (written before the position)", stored.LastSeq)
	}
	first.Close() // the "crash"
	store.setFail(nil)

	second := openFollower(t, log, store, false)
	if err := second.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	requireStoreEqualsFold(t, log, store)

	t.Run("the same follower converges when the store recovers", func(t *testing.T) {
		log, store := events.NewMemLog(), newHookStore()
		appendAll(t, log, lifecycle("n1", "a")...)
		f := openFollower(t, log, store, false)
		store.setFail(func(key string) error {
			if key == PositionKey || key == "n1.b" {
				return errInjected
			}
			return nil
		})
		appendAll(t, log, lifecycle("n1", "b")...)
		if err := f.Sync(ctx); !errors.Is(err, errInjected) {
			t.Fatalf("Sync: err %v, want the injected failure", err)
		}
		store.setFail(nil)
		if err := f.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		requireStoreEqualsFold(t, log, store)
	})
}

func TestFollower_LiveLoopFollowsTheLog(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), newHookStore()
	appendAll(t, log, lifecycle("n1", "a")[:2]...) // before Open: caught up by the loop

	var ready atomic.Int32
	f := NewFollower(log, store)
	f.RetryInterval = 10 * time.Millisecond
	f.OnChange = func(old, new Session) {
		if new.Status == StatusReady && old.Status != StatusReady {
			ready.Add(1)
		}
	}
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	// One event at a time, so that each change is reported (changes made between two
	// writes are reported once).
	for _, e := range lifecycle("n1", "a")[2:] {
		seqs := appendAll(t, log, e)
		if err := f.WaitPos(wctx, seqs[0]); err != nil {
			t.Fatal(err)
		}
	}
	requireStoreEqualsFold(t, log, store)
	if ready.Load() != 2 {
		t.Errorf("OnChange saw %d transitions to ready, want 2 (g1 and g2)", ready.Load())
	}

	// A store outage: the loop retries and catches up.
	var failures atomic.Int32
	store.setFail(func(key string) error {
		if failures.Add(1) <= 3 {
			return errInjected
		}
		return nil
	})
	seqs := appendAll(t, log, lifecycle("n1", "b")...)
	if err := f.WaitPos(wctx, seqs[len(seqs)-1]); err != nil {
		t.Fatal(err)
	}
	requireStoreEqualsFold(t, log, store)

	if err := f.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	before := f.Pos()
	appendAll(t, log, on("n1", "b", ev(events.KindClosed, 2)))
	if err := f.Sync(ctx); err != nil { // after Close, Sync still works by hand
		t.Fatal(err)
	}
	if f.Pos() != before+1 {
		t.Errorf("Pos after Close and Sync = %d, want %d", f.Pos(), before+1)
	}
}

// truncatedLog hides the events before min, as retention does.
type truncatedLog struct {
	*events.MemLog
	min uint64
}

func (l *truncatedLog) Read(ctx context.Context, q events.Query, fn func(events.Event) error) error {
	return l.MemLog.Read(ctx, q, func(e events.Event) error {
		if e.Seq < l.min {
			return nil
		}
		return fn(e)
	})
}

func TestFollower_SurvivesLogTruncation(t *testing.T) {
	ctx := context.Background()
	mem, store := events.NewMemLog(), NewMemStore()
	log := &truncatedLog{MemLog: mem}
	appendAll(t, log, lifecycle("n1", "a")...)
	first := openFollower(t, log, store, false)
	if err := first.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	first.Close()

	full := func() *Projection {
		p, err := Fold(ctx, mem, events.Query{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	seqs := appendAll(t, log, on("n1", "a", ev(events.KindServerLost, 2)), on("n1", "a", ev(events.KindBridgeExited, 2)))
	log.min = seqs[0] // everything the store already reflects is gone from the log

	second := openFollower(t, log, store, false)
	if err := second.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	stored, _ := LoadAll(ctx, store, "")
	if d := stored.Equal(full()); len(d) > 0 {
		t.Errorf("after truncation the store (a) differs from the fold of the whole history (b):\n  %s", strings.Join(d, "\n  "))
	}
	a, _ := stored.Get("n1", "a")
	if a.Status != StatusCrashed || a.Generation != 2 {
		t.Errorf("n1.a = %s g%d, want crashed g2", a.Status, a.Generation)
	}
	// As documented, a fresh fold of the truncated log cannot know the session.
	if truncated, _ := Fold(ctx, log, events.Query{}, nil); len(truncated.Equal(full())) == 0 {
		t.Errorf("a fold of the truncated log equals the full fold: the test truncated nothing")
	}
}

func TestFollower_NodeFilter(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), NewMemStore()
	appendAll(t, log, lifecycle("n1", "a")[:3]...)
	appendAll(t, log, lifecycle("n2", "a")[:3]...)
	f := NewFollower(log, store)
	f.Live, f.Node = false, "n2"
	if err := f.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	keys := store.Snapshot()
	if _, ok := keys["n1.a"]; ok || len(keys) != 2 {
		t.Errorf("a follower of n2 wrote %d keys (n1.a: %v), want n2.a and the position", len(keys), ok)
	}
	// The log's last events are another node's: the position still reaches the head.
	head := appendAll(t, log, lifecycle("n1", "b")...)
	if err := f.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if f.Pos() != head[len(head)-1] {
		t.Errorf("Pos() = %d after other nodes' events, want the head %d", f.Pos(), head[len(head)-1])
	}
}

func TestFollower_OpenNeedsLogAndStore(t *testing.T) {
	if err := (&Follower{}).Open(context.Background()); err == nil {
		t.Error("Open without a log and a store succeeded")
	}
	if err := (&Follower{}).Sync(context.Background()); err == nil {
		t.Error("Sync before Open succeeded")
	}
}

func TestStore_Helpers(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	t.Run("an empty store is at position 0 with no sessions", func(t *testing.T) {
		p, err := LoadAll(ctx, store, "")
		if err != nil || p.Pos != 0 || len(p.Sessions) != 0 {
			t.Errorf("LoadAll(empty) = %d sessions at %d, %v", len(p.Sessions), p.Pos, err)
		}
		if pos, err := Position(ctx, store); pos != 0 || err != nil {
			t.Errorf("Position(empty) = %d, %v", pos, err)
		}
	})
	t.Run("a value that does not decode is an error", func(t *testing.T) {
		_ = store.Put(ctx, "n1.bad", []byte("{not json"))
		if _, err := Load(ctx, store, "n1", "bad"); err == nil || errors.Is(err, events.ErrNotFound) {
			t.Errorf("Load(garbage): err %v, want a decode error", err)
		}
		if _, err := LoadAll(ctx, store, "n1"); err == nil {
			t.Error("LoadAll with garbage succeeded")
		}
		if _, err := LoadAll(ctx, store, "n2"); err != nil {
			t.Errorf("LoadAll(n2) fails on n1's garbage: %v", err)
		}
		_ = store.Put(ctx, PositionKey, []byte("x"))
		if _, err := Position(ctx, store); err == nil {
			t.Error("Position(garbage) succeeded")
		}
		_ = store.Delete(ctx, PositionKey)
		_ = store.Delete(ctx, "n1.bad")
		if got := store.Snapshot(); len(got) != 0 {
			t.Errorf("after Delete the store holds %v", got)
		}
	})
	t.Run("values are copied in and out", func(t *testing.T) {
		v := []byte("12")
		_ = store.Put(ctx, PositionKey, v)
		v[0] = '9'
		got, _ := store.Get(ctx, PositionKey)
		got[1] = '9'
		if pos, _ := Position(ctx, store); pos != 12 {
			t.Errorf("Position = %d after changing the caller's slices, want 12", pos)
		}
	})
}
