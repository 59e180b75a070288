package jetstream

import (
	"context"
	"fmt"
	"sync"
	"testing"
)

// TestStore_ListWhileKeysChangeMissesNone lists the bucket while other keys are updated and
// new ones created: every key that existed before a List began is in its result. (The
// watcher's end-of-initial-values marker counts messages, and a key updated during the
// initial delivery moved behind new ones: a List that stopped at the marker missed it.)
func TestStore_ListWhileKeysChangeMissesNone(t *testing.T) {
	st := openStore(t, startServer(t))
	ctx := context.Background()
	const keys = 40
	for i := range keys {
		if err := st.Put(ctx, fmt.Sprintf("n.k%02d", i), []byte("0")); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // rewrite existing keys and add new ones until the lists are done
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			_ = st.Put(ctx, fmt.Sprintf("n.k%02d", i%keys), []byte(fmt.Sprint(i)))
			if i%5 == 0 {
				_ = st.Put(ctx, fmt.Sprintf("n.new%05d", i), []byte("1"))
			}
		}
	}()
	defer func() { cancel(); wg.Wait() }()
	for round := range 200 {
		got, err := st.List(ctx, "n.")
		if err != nil {
			t.Fatal(err)
		}
		for i := range keys {
			if k := fmt.Sprintf("n.k%02d", i); got[k] == nil {
				t.Fatalf("round %d: List missed %s (it has %d keys)", round, k, len(got))
			}
		}
	}
}
