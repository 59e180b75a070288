package jetstream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestFollow_GoesOnWhenItsConsumerIsLost deletes the follower's consumer under it, as the
// death of the node holding it does: the follower makes a new one and delivers every later
// event exactly once, in order.
func TestFollow_GoesOnWhenItsConsumerIsLost(t *testing.T) {
	s := jstest.StartServer(t, "follow-token", false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	nc, err := jetstream.Dial(ctx, s.ClientURL(), s.Token)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := jetstream.EnsureStreams(ctx, js, jetstream.DefaultStreamConfig()); err != nil {
		t.Fatal(err)
	}
	log, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	last := jstest.MustAppend(t, log, jstest.Created("n", "s"), events.After(0))

	var mu sync.Mutex
	var got []uint64
	fctx, fcancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- log.Follow(fctx, events.Query{Node: "n"}, func(e events.Event) error {
			mu.Lock()
			got = append(got, e.Seq)
			mu.Unlock()
			return nil
		})
	}()
	delivered := func(n int) func() error {
		return func() error {
			mu.Lock()
			defer mu.Unlock()
			if len(got) < n {
				return fmt.Errorf("%d events delivered, want %d", len(got), n)
			}
			return nil
		}
	}
	testwait.For(t, 10*time.Second, delivered(1))

	// Delete every consumer of the events stream: the follower's is among them.
	st, err := js.Stream(ctx, events.EventsStream)
	if err != nil {
		t.Fatal(err)
	}
	names := st.ConsumerNames(ctx)
	n := 0
	for name := range names.Name() {
		if err := js.DeleteConsumer(ctx, events.EventsStream, name); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("the follower has no consumer to lose")
	}
	want := []uint64{last}
	for g := uint64(2); g <= 4; g++ {
		last = jstest.MustAppend(t, log, events.New(events.KindRestartRequested, "n", "s", g), events.After(last))
		want = append(want, last)
	}
	testwait.For(t, 20*time.Second, delivered(len(want)))
	fcancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("Follow ended with %v, want context.Canceled", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("delivered %v, want %v (each once, in order)", got, want)
	}
}
