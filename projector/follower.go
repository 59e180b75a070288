package projector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// DefaultRetryInterval is how long the follower waits after a failed read or write before
// trying again.
const DefaultRetryInterval = 500 * time.Millisecond

// Follower keeps the store's materialized projection up to date with the log: it applies
// every new event and writes the sessions whose value changed, then the position.
//
// The order of the two writes makes a crash harmless: sessions are written first, the
// position last, so a restarted follower re-reads the events after the stored position and
// re-applies some that its sessions already contain; Apply ignores those (their Seq is not
// above the session's LastSeq), so it converges to the same state.
//
// Retention: when the log was truncated, the events before the stored position are gone,
// but the stored sessions already contain their effect, and the follower goes on from the
// store. A fresh Fold of the truncated log cannot see the dropped events and may differ
// from the store (doctor must not report that as corruption).
//
// One follower per node writes a store: each writes its node's sessions and its own
// position key (PositionKeyFor), so the hubs of several nodes can share a cluster's bucket.
type Follower struct {
	Log    events.Log
	Store  Store
	Logger *slog.Logger
	// Node restricts the follower to one node's events and sessions ("" = every node).
	Node string
	// Live makes Open start the loop that follows the log (NewFollower sets it). Without it
	// the follower only moves when Sync is called: tests drive it step by step.
	Live bool
	// RetryInterval is the pause after a failed read or write.
	RetryInterval time.Duration
	// OnChange, when set, is called after a session's new value was written to the store,
	// with the value the store held before (zero for a session new to the store). Changes
	// made by several events between two writes are reported once. It runs on the follower's
	// goroutine (or Sync's caller) while the step is held: it must be quick and must not
	// call Sync or WaitPos (Get and List are fine).
	OnChange func(old, new Session)

	step sync.Mutex // serializes steps (Sync, the loop) and with them OnChange calls

	mu        sync.Mutex // guards the fields below
	proj      *Projection
	dirty     map[string]Session // changed since the last write -> value the store holds
	storedPos uint64
	wake      chan struct{} // closed and replaced when storedPos advances

	cancel context.CancelFunc
	done   chan struct{}
}

// NewFollower returns a live follower of log that materializes into store, with defaults.
func NewFollower(log events.Log, store Store) *Follower {
	return &Follower{
		Log:           log,
		Store:         store,
		Logger:        slog.New(slog.DiscardHandler),
		Live:          true,
		RetryInterval: DefaultRetryInterval,
	}
}

// Open loads the position and the sessions from the store, so that the follower resumes
// where the store is (after a hub restart, or after the log dropped old events), and starts
// the loop when Live is set.
func (f *Follower) Open(ctx context.Context) error {
	if f.Log == nil || f.Store == nil {
		return errors.New("projector: follower needs a Log and a Store")
	}
	if f.Logger == nil {
		f.Logger = slog.New(slog.DiscardHandler)
	}
	if f.RetryInterval <= 0 {
		f.RetryInterval = DefaultRetryInterval
	}
	p, err := LoadAll(ctx, f.Store, f.Node)
	if err != nil {
		return fmt.Errorf("projector: open: %w", err)
	}
	f.mu.Lock()
	f.proj = p
	f.dirty = map[string]Session{}
	f.storedPos = p.Pos
	f.wake = make(chan struct{})
	f.mu.Unlock()

	if f.Live {
		loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f.cancel = cancel
		f.done = make(chan struct{})
		go f.loop(loopCtx)
	}
	return nil
}

// Close stops the loop and waits for it. The store keeps what was written.
func (f *Follower) Close() error {
	if f.cancel != nil {
		f.cancel()
		<-f.done
		f.cancel = nil
	}
	return nil
}

// Pos returns the position materialized in the store: every event up to it is reflected
// in the stored sessions.
func (f *Follower) Pos() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.storedPos
}

// WaitPos waits until the store reflects every event up to seq, or ctx ends.
func (f *Follower) WaitPos(ctx context.Context, seq uint64) error {
	for {
		f.mu.Lock()
		pos, wake := f.storedPos, f.wake
		f.mu.Unlock()
		if wake == nil {
			return errors.New("projector: follower not open")
		}
		if pos >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("projector: waiting for position %d (at %d): %w", seq, pos, context.Cause(ctx))
		case <-wake:
		}
	}
}

// Get returns the follower's current value of a session (it may be ahead of the store
// while a write is being retried).
func (f *Follower) Get(node, name string) (Session, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proj == nil {
		return Session{}, false
	}
	return f.proj.Get(node, name)
}

// List returns the follower's current sessions of node ("" = all), as Projection.List.
func (f *Follower) List(node string) []Session {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.proj == nil {
		return nil
	}
	return f.proj.List(node)
}

// Sync is the synchronous step: it reads every event after the follower's position,
// applies them, writes the sessions whose value changed, then the position. Writes that
// failed in an earlier step are retried.
func (f *Follower) Sync(ctx context.Context) error {
	f.step.Lock()
	defer f.step.Unlock()
	f.mu.Lock()
	if f.proj == nil {
		f.mu.Unlock()
		return errors.New("projector: follower not open")
	}
	pos := f.proj.Pos
	f.mu.Unlock()

	// The head before the read: every event up to it that the query selects is delivered
	// by the read, so afterwards the position may move to it even when the last events
	// belong to another node (WaitPos(head) must not hang on a node's follower).
	head, headErr := f.Log.Head(ctx)
	readErr := f.Log.Read(ctx, events.Query{AfterSeq: pos, Node: f.Node}, func(e events.Event) error {
		f.applyLocked(e)
		return nil
	})
	if readErr != nil {
		readErr = fmt.Errorf("projector: read after %d: %w", pos, readErr)
	} else if headErr == nil {
		f.mu.Lock()
		f.proj.Pos = max(f.proj.Pos, head)
		f.mu.Unlock()
	}
	return errors.Join(readErr, f.flush(ctx))
}

// applyLocked applies one event to the in-memory projection and remembers what the store
// holds for the session it changed. The caller holds f.step.
func (f *Follower) applyLocked(e events.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key, old, changed := f.proj.apply(e)
	if !changed {
		return
	}
	if _, pending := f.dirty[key]; !pending {
		f.dirty[key] = old
	}
}

// flush writes the changed sessions, then the position. The caller holds f.step.
func (f *Follower) flush(ctx context.Context) error {
	f.mu.Lock()
	keys := make([]string, 0, len(f.dirty))
	for k := range f.dirty {
		keys = append(keys, k)
	}
	f.mu.Unlock()
	sort.Strings(keys)

	for _, k := range keys {
		f.mu.Lock()
		old, cur := f.dirty[k], f.proj.Sessions[k]
		f.mu.Unlock()
		if !reflect.DeepEqual(old, cur) {
			data, err := json.Marshal(cur)
			if err != nil {
				return fmt.Errorf("projector: encode %s: %w", k, err)
			}
			if err := f.Store.Put(ctx, k, data); err != nil {
				return fmt.Errorf("projector: write %s: %w", k, err)
			}
		}
		f.mu.Lock()
		delete(f.dirty, k)
		f.mu.Unlock()
		if f.OnChange != nil && !reflect.DeepEqual(old, cur) {
			f.OnChange(old, cur)
		}
	}

	f.mu.Lock()
	pos, stored := f.proj.Pos, f.storedPos
	f.mu.Unlock()
	if pos == stored {
		return nil
	}
	if err := f.Store.Put(ctx, PositionKeyFor(f.Node), formatPosition(pos)); err != nil {
		return fmt.Errorf("projector: write position %d: %w", pos, err)
	}
	f.mu.Lock()
	f.storedPos = pos
	close(f.wake)
	f.wake = make(chan struct{})
	f.mu.Unlock()
	return nil
}

// loop catches up with Sync, then follows the log one event at a time. After a failure it
// waits RetryInterval and starts over from the in-memory position; writes still pending
// are retried by the next Sync.
func (f *Follower) loop(ctx context.Context) {
	defer close(f.done)
	for {
		err := f.Sync(ctx)
		if err == nil {
			f.mu.Lock()
			pos := f.proj.Pos
			f.mu.Unlock()
			err = f.Log.Follow(ctx, events.Query{AfterSeq: pos, Node: f.Node}, func(e events.Event) error {
				f.step.Lock()
				defer f.step.Unlock()
				f.applyLocked(e)
				return f.flush(ctx)
			})
		}
		if ctx.Err() != nil {
			return
		}
		f.Logger.Warn("projector: following the log failed; retrying", "err", err, "retry", f.RetryInterval)
		t := time.NewTimer(f.RetryInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}
