package bridgeproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// A bridge that announced itself before its spawn was recorded, when the spawn recorded
// for its generation names another process: a hub died between starting this bridge and
// recording it, and the next hub started the generation again. This bridge must go.
func TestWatch_AnotherProcessRecordedForTheGenerationEndsTheBridge(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pid     int
		wantErr error
	}{
		{"another pid", 200, errNotRecorded},
		{"its own pid", 100, errClosedSession},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			log := events.NewMemLog()
			s := projector.Session{Node: "n", Name: "s"}
			created := events.New(events.KindCreated, "n", "s", 1)
			created.Server = &events.Server{Transport: events.TransportStdio, Command: "server"}
			ready := events.New(events.KindBridgeReady, "n", "s", 1)
			for _, e := range []events.Event{created, ready} {
				seq, err := log.Append(ctx, e, events.After(s.LastSeq))
				if err != nil {
					t.Fatal(err)
				}
				e.Seq = seq
				s = projector.Apply(s, e)
			}
			br := &bridgeRun{log: log, node: "n", name: "s", gen: 1, pid: 100, logger: slog.New(slog.DiscardHandler)}
			wctx, stop := context.WithCancelCause(ctx)
			defer stop(nil)
			done := make(chan struct{})
			go func() { defer close(done); br.watch(wctx, s, stop) }()

			spawned := events.New(events.KindBridgeSpawned, "n", "s", 1)
			spawned.PID, spawned.PIDStartTime = tc.pid, 1
			if _, err := log.Append(ctx, spawned, events.After(s.LastSeq)); err != nil {
				t.Fatal(err)
			}
			if tc.wantErr == errClosedSession {
				// Its own spawn changes nothing: the close that follows is what ends it.
				closed := events.New(events.KindClosed, "n", "s", 1)
				if _, err := log.Append(ctx, closed, events.Unconditional()); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case <-wctx.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("the bridge did not stop when another process was recorded for its generation")
			}
			if got := context.Cause(wctx); !errors.Is(got, tc.wantErr) {
				t.Errorf("stopped with %v, want %v", got, tc.wantErr)
			}
			<-done
		})
	}
}

func TestUntilHub_RetriesWhileTheHubIsAwayOnly(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	t.Run("hub away, then back", func(t *testing.T) {
		calls := 0
		err := untilHub(context.Background(), logger, "test", func(context.Context) error {
			calls++
			if calls < 3 {
				return fmt.Errorf("%w: connect nats://127.0.0.1:1: refused", events.ErrNoHub)
			}
			return nil
		})
		if err != nil || calls != 3 {
			t.Errorf("untilHub = %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("another error", func(t *testing.T) {
		calls := 0
		bad := errors.New("unsafe token file")
		err := untilHub(context.Background(), logger, "test", func(context.Context) error {
			calls++
			return bad
		})
		if !errors.Is(err, bad) || calls != 1 {
			t.Errorf("untilHub = %v after %d calls, want the error at once", err, calls)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		calls := 0
		err := untilHub(ctx, logger, "test", func(context.Context) error {
			calls++
			cancel()
			return events.ErrNoHub
		})
		if !errors.Is(err, events.ErrNoHub) || calls != 1 {
			t.Errorf("untilHub = %v after %d calls, want it to stop when its context ends", err, calls)
		}
	})
}
