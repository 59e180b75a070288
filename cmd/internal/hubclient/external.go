package hubclient

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
	"errors"
	"fmt"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"

	"github.com/gofrs/flock"
	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// Environment of the external mode. The flags of the same names override them; secrets
// (token, password) are taken from the environment only, never from a command line.
const (
	EnvNATSURL      = "MCPCTL_NATS_URL"
	EnvNATSCreds    = "MCPCTL_NATS_CREDS"
	EnvNATSToken    = "MCPCTL_NATS_TOKEN"
	EnvNATSUser     = "MCPCTL_NATS_USER"
	EnvNATSPassword = "MCPCTL_NATS_PASSWORD"
	EnvNATSTLSCA    = "MCPCTL_NATS_TLS_CA"
	EnvNATSTLSCert  = "MCPCTL_NATS_TLS_CERT"
	EnvNATSTLSKey   = "MCPCTL_NATS_TLS_KEY"
	EnvNATSReplicas = "MCPCTL_NATS_REPLICAS"
)

// clusterAddress is what an external-mode hub writes as its URL: the server list, so that
// a CLI pointed at another cluster (or at none) replaces it.
func ClusterAddress(o jetstream.ClusterOptions) string { return strings.Join(o.URLs, ",") }

// connectExternal connects the CLI to the cluster and makes sure this node's hub runs.
func connectExternal(ctx context.Context, t HubTarget) (*HubConn, error) {
	home, node, o := t.Home, t.Node, *t.Cluster
	if err := home.Ensure(); err != nil {
		return nil, err
	}
	nc, log, store, err := jetstream.ConnectCluster(ctx, o, false)
	if err != nil {
		return nil, clusterError(err)
	}
	addr, err := ensureExternalHub(ctx, t)
	if err != nil {
		nc.Close()
		return nil, err
	}
	h := newConn(nc, log, store, addr, node, home)
	h.Admin = clusterAdmin{log}
	return h, nil
}

// clusterAdmin is the Admin of a cluster connection. A cluster has no hub that owns a store,
// so there is no storage fault to ask about, and the question (a core NATS request on
// jetstream.FaultSubject) would need a permission that no role has.
type clusterAdmin struct{ *jetstream.Log }

func (clusterAdmin) Fault(context.Context) error { return nil }

// clusterError is a failure to reach or use the cluster as the CLI reports it: a refusal of
// the credentials or certificates, or a subject the permissions deny, is exit 4; anything
// else (an unreachable cluster, streams that are not as mcpctl makes them) keeps its code or
// is a network error.
func clusterError(err error) error {
	switch {
	case errors.Is(err, events.ErrRefused):
		return clierr.WithHint(err, clierr.ExitAuth, "check "+EnvNATSCreds+" and the TLS options; see docs/cluster.md, \"Credentials and TLS\"")
	case errors.Is(err, jetstream.ErrStreamMismatch):
		// Not a network fault, and a retry cannot fix it: the user picks the replica count
		// the streams were made with, or removes them.
		return clierr.WithHint(err, clierr.ExitUsage, "use the replica count the streams were made with ("+EnvNATSReplicas+"), or another cluster; see docs/cluster.md, \"Credentials and TLS\"")
	case errors.Is(err, events.ErrDenied):
		return clierr.WithHint(err, clierr.ExitAuth, "ask for the permissions of your role (docs/cluster.md, \"Permissions per role\")")
	}
	var ce *clierr.Error
	if errors.As(err, &ce) {
		return err
	}
	return clierr.WithHint(err, clierr.ExitNetwork, "check "+EnvNATSURL+" and the credentials; see README, \"Running on a cluster\"")
}

// externalHubRunning returns the address of a live hub of this build serving this cluster.
func externalHubRunning(home homedir.Home, build, url string) (jetstream.Address, bool) {
	addr, err := jetstream.ReadAddress(home.AddressFile())
	if err != nil || addr.Build != build || addr.URL != url {
		return addr, false
	}
	if _, err := proc.StartTime(addr.PID); err != nil || !isHubProcess(addr.PID) {
		return addr, false
	}
	return addr, true
}

// ensureExternalHub starts this node's hub when none of this build serves the cluster:
// check, lock, check again, replace whatever hub runs, spawn, wait for its address.
func ensureExternalHub(ctx context.Context, t HubTarget) (jetstream.Address, error) {
	home, url := t.Home, ClusterAddress(*t.Cluster)
	if addr, ok := externalHubRunning(home, t.Build, url); ok {
		return addr, nil
	}
	lock := flock.New(home.SpawnLock())
	lctx, cancel := context.WithTimeout(ctx, hubStartTimeout)
	defer cancel()
	ok, err := lock.TryLockContext(lctx, spawnLockRetry)
	if err != nil || !ok {
		return jetstream.Address{}, fmt.Errorf("waiting for the hub spawn lock %s: %w", home.SpawnLock(), errors.Join(err, ctx.Err()))
	}
	defer lock.Unlock()
	if addr, ok := externalHubRunning(home, t.Build, url); ok {
		return addr, nil
	}
	// Another hub owns the home (embedded mode, another build, another cluster): stop it.
	if owner := storeOwner(home); owner > 0 {
		if err := StopHubProcess(ctx, jetstream.Address{PID: owner}, HubStopTimeout); err != nil && !errors.Is(err, ErrNotAHub) {
			return jetstream.Address{}, fmt.Errorf("replace the hub (pid %d): %w", owner, err)
		}
	}
	logStart := fileSize(home.HubLog())
	pid, ready, err := spawnHub(ctx, t)
	if err != nil {
		return jetstream.Address{}, err
	}
	if err := awaitHub(lctx, ready, home, pid, logStart); err != nil {
		return jetstream.Address{}, err
	}
	addr, err := jetstream.ReadAddress(home.AddressFile())
	if err != nil || addr.PID != pid {
		return jetstream.Address{}, fmt.Errorf("the hub (pid %d) said it serves, but hub.json does not name it: %v", pid, fmt.Sprint(addr.PID, err))
	}
	return addr, nil
}

// DialBridgeConn connects a bridge to the event log: the cluster in external mode, else
// the hub named in the home's address file.
func DialBridgeConn(ctx context.Context, t HubTarget) (*jetstream.Log, *jetstream.Store, func(), error) {
	home := t.Home
	if t.Cluster != nil {
		nc, log, store, err := jetstream.ConnectCluster(ctx, *t.Cluster, true)
		if err != nil {
			return nil, nil, nil, err
		}
		return log, store, nc.Close, nil
	}
	token, err := jetstream.LoadOrCreateToken(home.TokenFile())
	if err != nil {
		return nil, nil, nil, err
	}
	nc, err := jetstream.DialHub(ctx, home.AddressFile(), token)
	if err != nil {
		return nil, nil, nil, err
	}
	log, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	store, err := jetstream.OpenStore(ctx, log.JetStream())
	if err != nil {
		nc.Close()
		return nil, nil, nil, err
	}
	return log, store, nc.Close, nil
}

// HubUnavailable reports an error that says the hub (or the cluster) is not there right
// now: not running, being replaced, unreachable, or a request nobody answered. A retry
// against the hub that hub.json names next may succeed; any other error it cannot fix.
func HubUnavailable(err error) bool {
	return errors.Is(err, events.ErrNoHub) || jetstream.Transient(err) ||
		errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrNoServers)
}
