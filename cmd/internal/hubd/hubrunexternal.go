package hubd

// External mode: with --nats-url (or MCPCTL_NATS_URL) the CLI, the hub and the bridges use
// an existing NATS cluster instead of the embedded server.
//
//	mcpctl (CLI) ──► NATS cluster (streams and KV, 3 replicas) ◄── hub of this node:
//	                                                                 projector + supervisor
//	                                                                 (no embedded server)
//
// The hub is still one per home and node, auto-started, and holds the store lock of the
// home, so that one supervisor acts for the node.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"

	"github.com/gofrs/flock"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// runExternal is `hub run` in external mode: the store lock of the home (one hub per home
// and node), the cluster connection, the projector of this node and the supervisor.
func (h *hub) runExternal(ctx context.Context, o jetstream.ClusterOptions) error {
	if err := os.MkdirAll(h.home.StoreDir(), 0o700); err != nil {
		return err
	}
	lockPath := filepath.Join(h.home.StoreDir(), jetstream.LockFile)
	lk := flock.New(lockPath, flock.SetPermissions(0o600))
	got, err := lk.TryLock()
	if err != nil {
		return fmt.Errorf("lock %s: %w", lockPath, err)
	}
	if !got {
		return fmt.Errorf("%w: %s", events.ErrLocked, lockPath)
	}
	defer lk.Unlock()
	if err := os.WriteFile(lockPath, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return err
	}

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	nc, log, store, err := jetstream.ConnectCluster(cctx, o, true)
	cancel()
	if err != nil {
		return err
	}
	defer nc.Close()
	// Clients of the cluster are not counted: they are every node's.
	return h.serve(ctx, log, store, hubclient.ClusterAddress(o), nil)
}
