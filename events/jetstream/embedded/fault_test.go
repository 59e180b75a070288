package embedded

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

func TestFault_ClientsFailAtOnceWithTheHubsCause(t *testing.T) {
	skipUnderRace(t)
	s := startServer(t)
	hubConn, err := jetstream.Dial(context.Background(), s.ClientURL(), s.Token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hubConn.Close)
	var mu sync.Mutex
	var current jetstream.Fault
	sub, err := jetstream.ServeFaults(hubConn, func() jetstream.Fault {
		mu.Lock()
		defer mu.Unlock()
		return current
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })

	l := openLog(t, s)
	store, err := jetstream.OpenStore(context.Background(), l.JetStream())
	if err != nil {
		t.Fatal(err)
	}
	jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	if err := jetstream.AskFault(context.Background(), l.Conn()); err != nil {
		t.Fatalf("AskFault with no fault = %v, want nil", err)
	}

	for _, tc := range []struct {
		kind string
		want error
	}{
		{jetstream.FaultDiskFull, events.ErrDiskFull},
		{jetstream.FaultStoreLost, events.ErrStoreLost},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			mu.Lock()
			current = jetstream.Fault{Kind: tc.kind, Detail: "as the test says"}
			mu.Unlock()
			if err := s.StopWrites(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				mu.Lock()
				current = jetstream.Fault{}
				mu.Unlock()
				if err := s.Reopen(context.Background()); err != nil {
					t.Errorf("reopen: %v", err)
				}
			})
			start := time.Now()
			_, err := l.Append(context.Background(), events.New(events.KindClosed, "n1", "a", 1), events.Unconditional())
			if !errors.Is(err, tc.want) || !jetstream.IsStorageFault(err) {
				t.Errorf("append while the hub reports %s: %v, want an error wrapping %v", tc.kind, err, tc.want)
			}
			t.Logf("append failed after %s", time.Since(start))
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("append took %s to fail, want it at once", took)
			}
			if _, err := l.Head(context.Background()); !errors.Is(err, tc.want) {
				t.Errorf("head while the hub reports %s: %v, want %v", tc.kind, err, tc.want)
			}
			if _, err := store.Get(context.Background(), "n1.a"); !errors.Is(err, tc.want) {
				t.Errorf("KV get while the hub reports %s: %v, want %v", tc.kind, err, tc.want)
			}
		})
	}
	// After Reopen the log takes appends again.
	jstest.MustAppend(t, l, events.New(events.KindClosed, "n1", "a", 1), events.Unconditional())
}
