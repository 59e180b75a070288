package projector

import (
	"context"
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

func keysOf(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
