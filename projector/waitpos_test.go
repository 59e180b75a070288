package projector

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"
)

// watchFunc is a KeyWatcher made of a function.
type watchFunc func(ctx context.Context, key string) (<-chan []byte, error)

func (f watchFunc) Watch(ctx context.Context, key string) (<-chan []byte, error) { return f(ctx, key) }

// feed returns a KeyWatcher that delivers vals on the watched key, then blocks until ctx
// ends, and records the key it was asked for.
func feed(key *string, vals ...string) KeyWatcher {
	return watchFunc(func(ctx context.Context, k string) (<-chan []byte, error) {
		*key = k
		out := make(chan []byte)
		go func() {
			defer close(out)
			for _, v := range vals {
				select {
				case out <- []byte(v):
				case <-ctx.Done():
					return
				}
			}
			<-ctx.Done()
		}()
		return out, nil
	})
}

func TestWaitNodePosition(t *testing.T) {
	ctx := context.Background()
	t.Run("a store already there is not watched", func(t *testing.T) {
		store := NewMemStore()
		if err := store.Put(ctx, PositionKeyFor("n1"), []byte("7")); err != nil {
			t.Fatal(err)
		}
		w := watchFunc(func(context.Context, string) (<-chan []byte, error) {
			t.Fatal("watched a position that had reached the sequence")
			return nil, nil
		})
		if pos, err := WaitNodePosition(ctx, store, w, "n1", 7); err != nil || pos != 7 {
			t.Fatalf("WaitNodePosition(7) with position 7 = %d, %v; want 7, nil", pos, err)
		}
	})
	t.Run("the watch of the node's key brings it to the sequence", func(t *testing.T) {
		store := NewMemStore()
		var key string
		w := feed(&key, "3", "", "9", "12")
		pos, err := WaitNodePosition(ctx, store, w, "n1", 9)
		if err != nil || pos != 9 {
			t.Fatalf("WaitNodePosition(9) with updates 3, (deleted), 9 = %d, %v; want 9, nil", pos, err)
		}
		if key != PositionKeyFor("n1") {
			t.Errorf("watched %q, want %q", key, PositionKeyFor("n1"))
		}
	})
	t.Run("ctx ends first with the last position seen", func(t *testing.T) {
		var key string
		wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		pos, err := WaitNodePosition(wctx, NewMemStore(), feed(&key, strconv.Itoa(4)), "n1", 9)
		if !errors.Is(err, context.DeadlineExceeded) || pos != 4 {
			t.Fatalf("WaitNodePosition(9) stuck at 4 = %d, %v; want 4, DeadlineExceeded", pos, err)
		}
	})
}
