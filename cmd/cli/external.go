package cli

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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gofrs/flock"
	"github.com/nats-io/nats.go"
	"github.com/spf13/pflag"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// Environment of the external mode. The flags of the same names override them; secrets
// (token, password) are taken from the environment only, never from a command line.
const (
	envNATSURL      = "MCPCTL_NATS_URL"
	envNATSCreds    = "MCPCTL_NATS_CREDS"
	envNATSToken    = "MCPCTL_NATS_TOKEN"
	envNATSUser     = "MCPCTL_NATS_USER"
	envNATSPassword = "MCPCTL_NATS_PASSWORD"
	envNATSTLSCA    = "MCPCTL_NATS_TLS_CA"
	envNATSTLSCert  = "MCPCTL_NATS_TLS_CERT"
	envNATSTLSKey   = "MCPCTL_NATS_TLS_KEY"
	envNATSReplicas = "MCPCTL_NATS_REPLICAS"
)

// externalFlags are the global flags of the external mode.
type externalFlags struct {
	url, creds, tlsCA, tlsCert, tlsKey string
	replicas                           int
}

func addExternalFlags(pf *pflag.FlagSet, f *Factory) {
	pf.StringVar(&f.External.url, "nats-url", "", "use this NATS cluster instead of the embedded server (comma-separated URLs; env "+envNATSURL+")")
	pf.StringVar(&f.External.creds, "nats-creds", "", "NATS credentials file (env "+envNATSCreds+"; a token or user/password come from "+envNATSToken+", "+envNATSUser+"/"+envNATSPassword+")")
	pf.StringVar(&f.External.tlsCA, "nats-tls-ca", "", "CA bundle that signs the NATS servers' certificates (env "+envNATSTLSCA+")")
	pf.StringVar(&f.External.tlsCert, "nats-tls-cert", "", "client certificate for NATS TLS (env "+envNATSTLSCert+")")
	pf.StringVar(&f.External.tlsKey, "nats-tls-key", "", "key of the client certificate (env "+envNATSTLSKey+")")
	pf.IntVar(&f.External.replicas, "nats-replicas", 0, "replicas of the streams and the bucket when this CLI creates them (default 3; env "+envNATSReplicas+")")
}

// clusterOptions returns the external cluster to use, and false in embedded mode.
func (f *Factory) clusterOptions() (jetstream.ClusterOptions, bool, error) {
	pick := func(flag, env string) string {
		if flag != "" {
			return flag
		}
		return os.Getenv(env)
	}
	url := pick(f.External.url, envNATSURL)
	if url == "" {
		return jetstream.ClusterOptions{}, false, nil
	}
	o := jetstream.ClusterOptions{
		URLs:      jetstream.ParseURLs(url),
		CredsFile: pick(f.External.creds, envNATSCreds),
		Token:     os.Getenv(envNATSToken),
		User:      os.Getenv(envNATSUser),
		Password:  os.Getenv(envNATSPassword),
		TLSCA:     pick(f.External.tlsCA, envNATSTLSCA),
		TLSCert:   pick(f.External.tlsCert, envNATSTLSCert),
		TLSKey:    pick(f.External.tlsKey, envNATSTLSKey),
		Replicas:  f.External.replicas,
	}
	if o.Replicas == 0 {
		if v := os.Getenv(envNATSReplicas); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 5 {
				return o, true, usageErr("%s=%q: want a replica count from 1 to 5", envNATSReplicas, v)
			}
			o.Replicas = n
		}
	}
	if err := o.Validate(); err != nil {
		return o, true, withHint(err, ExitUsage, "see README, \"Running on a cluster\"")
	}
	return o, true, nil
}

// Target resolves which hub this command reaches.
func (f *Factory) Target() (HubTarget, error) {
	home, err := f.Home()
	if err != nil {
		return HubTarget{}, err
	}
	node, err := f.Node()
	if err != nil {
		return HubTarget{}, err
	}
	t := HubTarget{Home: home, Node: node, Build: f.Build(), Self: f.Executable}
	o, external, err := f.clusterOptions()
	if err != nil {
		return HubTarget{}, err
	}
	if external {
		t.Cluster, t.ClusterEnv = &o, f.externalEnv()
	}
	return t, nil
}

// externalEnv is what a hub started by this CLI needs in its environment to reach the same
// cluster: flags become variables (the secrets are in the environment already).
func (f *Factory) externalEnv() []string {
	var env []string
	add := func(name, v string) {
		if v != "" {
			env = append(env, name+"="+v)
		}
	}
	add(envNATSURL, f.External.url)
	add(envNATSCreds, f.External.creds)
	add(envNATSTLSCA, f.External.tlsCA)
	add(envNATSTLSCert, f.External.tlsCert)
	add(envNATSTLSKey, f.External.tlsKey)
	if f.External.replicas > 0 {
		add(envNATSReplicas, strconv.Itoa(f.External.replicas))
	}
	return env
}

// clusterAddress is what an external-mode hub writes as its URL: the server list, so that
// a CLI pointed at another cluster (or at none) replaces it.
func clusterAddress(o jetstream.ClusterOptions) string { return strings.Join(o.URLs, ",") }

// connectExternal connects the CLI to the cluster and makes sure this node's hub runs.
func connectExternal(ctx context.Context, t HubTarget) (*HubConn, error) {
	home, node, o := t.Home, t.Node, *t.Cluster
	if err := home.Ensure(); err != nil {
		return nil, err
	}
	nc, log, store, err := jetstream.ConnectCluster(ctx, o, false)
	if err != nil {
		return nil, withHint(err, ExitNetwork, "check "+envNATSURL+" and the credentials; see README, \"Running on a cluster\"")
	}
	addr, err := ensureExternalHub(ctx, t)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &HubConn{NC: nc, Log: log, Store: store, Addr: addr, Node: node, Home: home}, nil
}

// externalHubRunning returns the address of a live hub of this build serving this cluster.
func externalHubRunning(home Home, build, url string) (jetstream.Address, bool) {
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
	home, url := t.Home, clusterAddress(*t.Cluster)
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
		if err := stopHubProcess(ctx, jetstream.Address{PID: owner}, hubStopTimeout); err != nil {
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
	return h.serve(ctx, log, store, clusterAddress(o), nil)
}
