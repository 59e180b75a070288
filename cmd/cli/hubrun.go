package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// hub wires the parts of `mcpctl hub run`:
//
//	store lock ─► embedded nats-server + JetStream (streams, KV)
//	                 ├─ projector.Follower: events ─► KV "sessions"
//	                 └─ supervisor: spawns, reaps and adopts bridges
//	address file written last, removed first
type hub struct {
	home       Home
	node       string
	token      string
	build      string
	exe        func() (string, error)
	lazy       bool
	idle       time.Duration
	preferPort int
	logger     *slog.Logger
}

func (h *hub) run(ctx context.Context) error {
	srv := jetstream.NewServer(h.home.StoreDir())
	srv.Token = h.token
	srv.SyncAlways = !h.lazy
	srv.PreferPort = h.preferPort
	srv.Logger = h.logger
	if err := srv.Open(); err != nil {
		return err
	}
	defer srv.Close()

	nc, err := jetstream.Dial(ctx, srv.ClientURL(), h.token)
	if err != nil {
		return fmt.Errorf("connect to own server: %w", err)
	}
	defer nc.Close()
	log, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		return err
	}
	store, err := jetstream.OpenStore(ctx, log.JetStream())
	if err != nil {
		return err
	}
	follower := projector.NewFollower(log, store)
	follower.Logger = h.logger
	if err := follower.Open(ctx); err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	defer follower.Close()

	addr := jetstream.Address{URL: srv.ClientURL(), PID: os.Getpid(), Build: h.build, Started: time.Now().UTC()}
	if err := jetstream.WriteAddress(h.home.AddressFile(), addr); err != nil {
		return err
	}
	defer h.removeAddress(addr)
	h.logger.Info("hub running", "url", addr.URL, "pid", addr.PID, "build", addr.Build, "home", h.home.Dir, "node", h.node)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.idleLoop(gctx, srv, follower) })
	err = g.Wait()
	if errors.Is(err, errIdle) || errors.Is(err, context.Canceled) {
		h.logger.Info("hub stopping", "why", context.Cause(gctx))
		return nil
	}
	return err
}

var errIdle = errors.New("idle: no live session and no client")

// idleLoop ends the hub when, for h.idle, no session is live and no other client is connected.
func (h *hub) idleLoop(ctx context.Context, srv *jetstream.Server, f *projector.Follower) error {
	if h.idle <= 0 {
		<-ctx.Done()
		return ctx.Err()
	}
	tick := time.NewTicker(h.idle / 10)
	defer tick.Stop()
	idleSince := time.Now()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		busy := srv.NATS().NumClients() > 1 // our own connection
		for _, s := range f.List("") {
			if s.Status.Live() && !s.Cleaned {
				busy = true
				break
			}
		}
		if busy {
			idleSince = time.Now()
		} else if time.Since(idleSince) >= h.idle {
			return errIdle
		}
	}
}

// removeAddress deletes the address file only if it still names this hub.
func (h *hub) removeAddress(addr jetstream.Address) {
	cur, err := jetstream.ReadAddress(h.home.AddressFile())
	if err == nil && cur.PID == addr.PID && cur.Started.Equal(addr.Started) {
		_ = os.Remove(h.home.AddressFile())
	}
}
