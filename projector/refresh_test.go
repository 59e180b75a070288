package projector

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/mcpctl/mcpctl/events"
)

func TestCurrent_FoldsWhatTheStoreHasNotCaughtUpWith(t *testing.T) {
	ctx := context.Background()
	log := events.NewMemLog()
	store := NewMemStore()
	t.Run("a session the store does not hold is folded from the log", func(t *testing.T) {
		readySession(t, log, "new")
		got, err := Current(ctx, store, log, "n", "new")
		if err != nil || got.Status != StatusReady || got.Name != "new" || got.Node != "n" {
			t.Fatalf("Current(@new, empty store) = %s %q@%q err %v, want ready n/new", got.Status, got.Name, got.Node, err)
		}
	})
	t.Run("a lagging store is brought up to the log", func(t *testing.T) {
		stale := readySession(t, log, "lag")
		data, err := json.Marshal(stale)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Put(ctx, Key("n", "lag"), data); err != nil {
			t.Fatal(err)
		}
		if _, _, err := RequestClose(ctx, log, stale, "bye"); err != nil {
			t.Fatal(err)
		}
		if kv, _ := Stored(ctx, store, "n", "lag"); kv.Status != StatusReady {
			t.Fatalf("Stored(@lag) = %s, want the store's stale ready", kv.Status)
		}
		got, err := Current(ctx, store, log, "n", "lag")
		if err != nil || got.Status != StatusClosed {
			t.Fatalf("Current(@lag) = %s err %v, want closed (the log's newer event)", got.Status, err)
		}
	})
	t.Run("an unknown session is empty but named", func(t *testing.T) {
		got, err := Current(ctx, store, log, "n", "nope")
		if err != nil || got.Status != "" || got.Name != "nope" || got.Node != "n" {
			t.Fatalf("Current(@nope) = %+v err %v, want an empty n/nope", got, err)
		}
	})
}
