package projector

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mcpctl/mcpctl/events"
)

// Two hubs of a cluster share one bucket: each follower keeps its own position, so one
// node's progress never makes the other skip its events after a restart.
func TestFollower_NodesShareAStoreWithTheirOwnPositions(t *testing.T) {
	ctx := context.Background()
	log, store := events.NewMemLog(), NewMemStore()
	open := func(node string) *Follower {
		t.Helper()
		f := NewFollower(log, store)
		f.Live, f.Node = false, node
		if err := f.Open(ctx); err != nil {
			t.Fatal(err)
		}
		return f
	}
	b := open("nb")
	appendAll(t, log, lifecycle("na", "x")[:2]...)
	appendAll(t, log, lifecycle("nb", "y")[:2]...)
	if err := b.Sync(ctx); err != nil { // b is ahead; a has not synced
		t.Fatal(err)
	}
	snap := store.Snapshot()
	if _, ok := snap[PositionKeyFor("nb")]; !ok {
		t.Fatalf("keys %v: no %s", keysOf(snap), PositionKeyFor("nb"))
	}
	if _, ok := snap[PositionKey]; ok {
		t.Errorf("a node's follower wrote the shared key %s", PositionKey)
	}
	// a restarts from the store: its position is its own (0), so it still sees na.x.
	a2 := open("na")
	if err := a2.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if s, ok := a2.Get("na", "x"); !ok || s.LastSeq == 0 {
		t.Errorf("na.x after a restarted na follower = %+v, %v; want it materialized", s, ok)
	}
	if pos, _ := NodePosition(ctx, store, "na"); pos != a2.Pos() {
		t.Errorf("NodePosition(na) = %d, want %d", pos, a2.Pos())
	}
	// Listing every node skips the position keys.
	p, err := LoadAll(ctx, store, "")
	if err != nil {
		t.Fatalf("LoadAll of every node: %v", err)
	}
	if got := len(p.List("")); got != 2 {
		t.Errorf("LoadAll(\"\") lists %d sessions, want 2", got)
	}
}

func TestNodePosition_FallsBackToTheSharedKey(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	_ = store.Put(ctx, PositionKey, []byte("42"))
	if pos, err := NodePosition(ctx, store, "na"); err != nil || pos != 42 {
		t.Errorf("NodePosition on a store of before = %d, %v; want 42", pos, err)
	}
	p, err := LoadAll(ctx, store, "na")
	if err != nil || p.Pos != 42 {
		t.Errorf("LoadAll(na).Pos on a store of before = %d, %v; want 42", p.Pos, err)
	}
}

// No node or session name reaches the position keys: a node named like the keys of before
// ("_position") keeps its sessions listed and its own position, alone or beside others.
func TestFollower_NodeNamedLikeAPositionKeyKeepsItsSessions(t *testing.T) {
	ctx := context.Background()
	for _, node := range []string{"_position", "position", "_position-2"} {
		t.Run(node, func(t *testing.T) {
			log, store := events.NewMemLog(), NewMemStore()
			appendAll(t, log, lifecycle(node, "a")...)
			appendAll(t, log, lifecycle("other", "b")...)
			f := NewFollower(log, store)
			f.Live, f.Node = false, node
			if err := f.Open(ctx); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			p, err := LoadAll(ctx, store, node)
			if err != nil {
				t.Fatalf("LoadAll(%q): %v", node, err)
			}
			if got := len(p.List(node)); got != 1 || p.Pos != f.Pos() {
				t.Errorf("LoadAll(%q) lists %d sessions at position %d, want 1 at %d (keys %v)", node, got, p.Pos, f.Pos(), keysOf(store.Snapshot()))
			}
			if pos, err := NodePosition(ctx, store, node); err != nil || pos != f.Pos() {
				t.Errorf("NodePosition(%q) = %d, %v; want %d", node, pos, err, f.Pos())
			}
			all, err := LoadAll(ctx, store, "")
			if err != nil {
				t.Fatalf("LoadAll of every node: %v", err)
			}
			if _, ok := all.Get(node, "a"); !ok {
				t.Errorf("LoadAll(\"\") misses %s.a (keys %v)", node, keysOf(store.Snapshot()))
			}
		})
	}
}

// A store written before the '=' keys keeps its positions under "_position[.<node>]": they
// are read until the follower writes the new key, and a session of a node named "_position"
// in such a store (a JSON value, not a number) is a session, not a position.
func TestNodePosition_ReadsTheKeysOfBefore(t *testing.T) {
	ctx := context.Background()
	store := NewMemStore()
	_ = store.Put(ctx, "_position", []byte("7"))
	_ = store.Put(ctx, "_position.na", []byte("42"))
	session, _ := json.Marshal(Session{Node: "_position", Name: "na", Status: StatusReady, LastSeq: 3})
	_ = store.Put(ctx, "_position.nb", session)
	for node, want := range map[string]uint64{"na": 42, "nb": 7, "": 7} {
		if pos, err := NodePosition(ctx, store, node); err != nil || pos != want {
			t.Errorf("NodePosition(%q) on a store of before = %d, %v; want %d", node, pos, err, want)
		}
		if p, err := LoadAll(ctx, store, node); err != nil {
			t.Errorf("LoadAll(%q) on a store of before: %v", node, err)
		} else if p.Pos != want {
			t.Errorf("LoadAll(%q).Pos on a store of before = %d, want %d", node, p.Pos, want)
		}
	}
	p, err := LoadAll(ctx, store, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Get("_position", "nb"); !ok || len(p.List("")) != 1 {
		t.Errorf("LoadAll of a store of before lists %d sessions, want only _position.nb", len(p.List("")))
	}
	// Once the follower wrote its new key, that one counts.
	_ = store.Put(ctx, PositionKeyFor("na"), []byte("50"))
	if pos, _ := NodePosition(ctx, store, "na"); pos != 50 {
		t.Errorf("NodePosition(na) with both keys = %d, want the new key's 50", pos)
	}
}

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
