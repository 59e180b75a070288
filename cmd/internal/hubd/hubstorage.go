package hubd

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/embedded"
)

// The hub's storage guard. Two faults of the store are noticed here, on a timer, because
// nats-server reports neither to its clients:
//
//   - a write error (the disk is full): nats-server keeps the error on the stream and answers
//     no publish to it, so appends and KV writes time out, and stay broken after space
//     returns. The guard answers clients why (FaultSubject), so that a failed write fails its
//     command with the cause, and restarts JetStream, which reloads the streams from their
//     files, once the filesystem has room. Reads keep working meanwhile. The projector and
//     the supervisor retry by themselves.
//   - a store removed or replaced under the hub (rm -rf $MCPCTL_HOME/hub): what it would
//     acknowledge from then on is lost. The guard stops JetStream (requests then fail, never
//     acknowledged) and ends the hub; the next hub starts on a fresh store and stops the
//     bridges nobody knows any more.
const (
	storageCheckInterval = 250 * time.Millisecond
)

// storageGuard watches the embedded server's store and holds the current fault.
type storageGuard struct {
	srv *embedded.Server
	hub *hub

	mu    sync.Mutex
	fault jetstream.Fault
}

// Fault returns the current fault (zero: none).
func (g *storageGuard) Fault() jetstream.Fault {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.fault
}

func (g *storageGuard) set(f jetstream.Fault) {
	g.mu.Lock()
	g.fault = f
	g.mu.Unlock()
}

// run checks the store until ctx ends; it returns an error wrapping events.ErrStoreLost
// when the store is gone, which ends the hub.
func (g *storageGuard) run(ctx context.Context) error {
	tick := time.NewTicker(storageCheckInterval)
	defer tick.Stop()
	log := g.hub.logger.With("part", "storage")
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		if err := g.srv.StoreLost(); err != nil {
			g.set(jetstream.Fault{Kind: jetstream.FaultStoreLost,
				Detail: fmt.Sprintf("%v; the hub (pid %d) stopped taking writes and is shutting down", err, os.Getpid())})
			if serr := g.srv.StopWrites(); serr != nil {
				log.Warn("stop jetstream", "err", serr)
			}
			return err
		}
		if g.Fault().Kind == "" {
			werr := g.srv.StorageFault()
			if werr == nil {
				continue
			}
			sp, _ := jetstream.StoreSpace(g.hub.home.StoreDir())
			kind := jetstream.FaultWrite
			if jetstream.IsNoSpace(werr) || sp.Free < jetstream.ResumeFree(sp) {
				kind = jetstream.FaultDiskFull
			}
			g.set(jetstream.Fault{Kind: kind, Detail: fmt.Sprintf(
				"%s free on the filesystem of %s; writes fail until %s are free, then the hub resumes by itself (%v)",
				jetstream.HumanBytes(sp.Free), g.hub.home.Dir, jetstream.HumanBytes(jetstream.ResumeFree(sp)), werr)})
			// JetStream keeps running: reads (the KV, the log) still work, so calls on ready
			// bridges go on; writes fail, and clients learn why from the fault.
			log.Error("the store cannot be written: writes fail until there is room", "err", werr, "free", sp.Free)
			continue
		}
		sp, err := jetstream.StoreSpace(g.hub.home.StoreDir())
		if err != nil || sp.Free < jetstream.ResumeFree(sp) {
			continue
		}
		if err := g.srv.Reopen(ctx); err != nil {
			log.Warn("restart jetstream", "err", err)
			continue
		}
		g.set(jetstream.Fault{})
		log.Info("the store takes writes again", "free", sp.Free, "limits", fmt.Sprintf("%+v", g.srv.Limits()))
	}
}
