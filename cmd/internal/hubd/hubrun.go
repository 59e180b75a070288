package hubd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/orphans"

	"golang.org/x/sync/errgroup"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/supervisor"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/embedded"
	"github.com/mcpctl/mcpctl/projector"
)

// hub wires the parts of `mcpctl hub run`:
//
//	store lock ─► embedded nats-server + JetStream (streams, KV)
//	                 ├─ projector.Follower: events ─► KV "sessions"
//	                 └─ supervisor: spawns, reaps and adopts bridges
//	address file written last, removed first
type hub struct {
	home       homedir.Home
	node       string
	token      string
	build      string
	exe        func() (string, error)
	lazy       bool
	idle       time.Duration
	preferPort int
	logger     *slog.Logger
	// external: the hub serves a NATS cluster; its bridges get the cluster settings
	// (MCPCTL_NATS_* of its environment, and externalEnv for what came as flags).
	external    bool
	externalEnv []string
	// ready: the readiness pipe of the CLI that spawned this hub (nil: none), written
	// once the hub serves (hubready.go).
	ready *os.File
}

func (h *hub) run(ctx context.Context) error {
	srv := embedded.NewServer(h.home.StoreDir())
	srv.Token = h.token
	srv.SyncAlways = !h.lazy
	srv.PreferPort = h.preferPort
	srv.Logger = h.logger
	if err := srv.Open(); err != nil {
		if jetstream.IsNoSpace(err) && !errors.Is(err, events.ErrDiskFull) {
			err = fmt.Errorf("%w: %w", events.ErrDiskFull, err)
		}
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
	guard := &storageGuard{srv: srv, hub: h}
	sub, err := jetstream.ServeFaults(nc, guard.Fault)
	if err != nil {
		return fmt.Errorf("serve storage faults: %w", err)
	}
	defer sub.Unsubscribe()
	// Clients besides the hub's own connection keep the hub from idling.
	return h.serve(ctx, log, store, srv.ClientURL(), func() int { return srv.NATS().NumClients() - 1 }, guard.run)
}

// serve runs the parts every hub runs, embedded or on a cluster: the projector of this node
// (materializing into store), the supervisor it feeds, the address file, and the idle exit.
// clients counts the other clients that keep the hub busy (nil: not counted); actors run
// beside the idle loop, and the first one to fail ends the hub.
func (h *hub) serve(ctx context.Context, log *jetstream.Log, store *jetstream.Store, url string, clients func() int,
	actors ...func(context.Context) error) error {
	sup := supervisor.New(log, h.node, h.spawnBridge)
	sup.Logger = h.logger.With("part", "supervisor")
	follower := projector.NewFollower(log, store)
	follower.Logger = h.logger.With("part", "projector")
	follower.Node = h.node
	follower.OnChange = func(_, s projector.Session) { sup.Notify(s) }
	if err := follower.Open(ctx); err != nil {
		return fmt.Errorf("projector: %w", err)
	}
	defer follower.Close()
	// Catch up with the log before judging which bridges are alive.
	var head uint64
	err := jetstream.Retry(ctx, func(ctx context.Context) error {
		var err error
		head, err = log.Head(ctx)
		return err
	})
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = follower.WaitPos(wctx, head)
		cancel()
		if err != nil {
			return fmt.Errorf("projector catch-up to %d: %w", head, err)
		}
	}
	// Bridges the log does not know (the store was lost under them) are stopped before the
	// supervisor spawns anything: none of them can be this hub's.
	if found := orphans.Find(h.home, h.node, orphans.KnownIn(follower.List(h.node))); len(found) > 0 {
		h.logger.Warn("orphan bridges found", "bridges", orphans.Summary(found))
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			orphans.Stop(ctx, h.home, found, h.logger.With("part", "found"))
		}()
		defer func() { <-stopped }()
	}
	if err := sup.Open(ctx, follower.List(h.node)); err != nil {
		return err
	}
	defer sup.Close()
	rs := h.remoteSessions(log, follower)
	if err := rs.Open(); err != nil {
		return err
	}
	defer rs.Close()

	addr := jetstream.Address{URL: url, PID: os.Getpid(), Build: h.build, Started: time.Now().UTC()}
	if err := jetstream.WriteAddress(h.home.AddressFile(), addr); err != nil {
		return err
	}
	defer h.removeAddress(addr)
	h.logger.Info("hub running", "url", addr.URL, "pid", addr.PID, "build", addr.Build, "home", h.home.Dir, "node", h.node)
	if err := signalReady(h.ready); err != nil {
		h.logger.Warn("tell the spawning CLI the hub serves", "err", err) // it has gone (EPIPE)
	}
	h.ready = nil

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return h.idleLoop(gctx, follower, clients) })
	g.Go(func() error { return h.keepAddress(gctx, addr) })
	for _, a := range actors {
		g.Go(func() error { return a(gctx) })
	}
	err = g.Wait()
	if errors.Is(err, errIdle) || errors.Is(err, context.Canceled) {
		h.logger.Info("hub stopping", "why", context.Cause(gctx))
		return nil
	}
	return err
}

var errIdle = errors.New("idle: no live session and no client")

// idleLoop ends the hub when, for h.idle, no session of its node is live and (when clients
// is given) no other client is connected.
func (h *hub) idleLoop(ctx context.Context, f *projector.Follower, clients func() int) error {
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
		busy := clients != nil && clients() > 0
		for _, s := range f.List(h.node) {
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

// addressCheckInterval is how often the hub checks that hub.json still names it.
const addressCheckInterval = 200 * time.Millisecond

// keepAddress rewrites the address file when it no longer names this hub (damaged or removed
// by hand): the store lock makes this process the only owner, and clients that cannot find
// it would otherwise fail until it is killed.
func (h *hub) keepAddress(ctx context.Context, addr jetstream.Address) error {
	tick := time.NewTicker(addressCheckInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		cur, err := jetstream.ReadAddress(h.home.AddressFile())
		if err == nil && cur.PID == addr.PID && cur.URL == addr.URL && cur.Started.Equal(addr.Started) {
			continue
		}
		if werr := jetstream.WriteAddress(h.home.AddressFile(), addr); werr != nil {
			h.logger.Warn("rewrite the address file", "err", werr)
			continue
		}
		h.logger.Info("address file rewritten", "was", fmt.Sprint(cur, err))
	}
}

// removeAddress deletes the address file only if it still names this hub.
func (h *hub) removeAddress(addr jetstream.Address) {
	cur, err := jetstream.ReadAddress(h.home.AddressFile())
	if err == nil && cur.PID == addr.PID && cur.Started.Equal(addr.Started) {
		_ = os.Remove(h.home.AddressFile())
	}
}

// MaxSessionLog is the size at which a session log is rotated (one old copy is kept): by
// the hub when it spawns a bridge, and by the bridge while it runs.
const MaxSessionLog = 10 << 20

// spawnBridge starts `mcpctl bridge` for s.Generation: its own session (it outlives the hub
// and is adopted by the next one), stdin from /dev/null, output to the session's log.
// Nothing secret is on its command line: it reads the secrets file the session names.
func (h *hub) spawnBridge(ctx context.Context, s projector.Session) (*supervisor.Child, error) {
	exe, err := bridgeExecutable(h.exe)
	if err != nil {
		return nil, err
	}
	logPath := h.home.SessionLog(s.Name)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o700); err != nil { // a home of before has no logs/sessions
		return nil, fmt.Errorf("session log directory: %w", err)
	}
	if fi, err := os.Stat(logPath); err == nil && fi.Size() > MaxSessionLog {
		_ = os.Rename(logPath, logPath+".1")
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open session log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	cmd := exec.Command(exe, "bridge", "--session", s.Name, "--generation", strconv.FormatUint(s.Generation, 10))
	cmd.Env = append(append(homedir.DaemonEnv(os.Environ(), h.external), h.externalEnv...), "MCPCTL_HOME="+h.home.Dir, "MCPCTL_NODE="+h.node)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, logf, logf
	cmd.Dir = "/"
	if s.Server.Cwd != "" {
		cmd.Dir = s.Server.Cwd
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start bridge: %w", err)
	}
	pid := cmd.Process.Pid
	start, err := proc.StartTime(pid) // not reaped before Wait: readable even if it already exited
	if err != nil {
		st, _ := proc.ReadStat(pid)
		start = st.StartTime
	}
	return &supervisor.Child{
		PID:       pid,
		StartTime: start,
		Socket:    homedir.BridgeSocketPath(h.home, s.Name, pid),
		Wait: func() (*int, string) {
			err := cmd.Wait()
			ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
			if err != nil && !ok {
				return nil, ""
			}
			if ws.Signaled() {
				return nil, ws.Signal().String()
			}
			code := ws.ExitStatus()
			return &code, ""
		},
	}, nil
}

// bridgeExecutable is what bridges run from: $MCPCTL_BRIDGE (a test's stand-in), else the
// daemon binary, which is this hub's own executable.
func bridgeExecutable(self func() (string, error)) (string, error) {
	if p := os.Getenv("MCPCTL_BRIDGE"); p != "" {
		return p, nil
	}
	return hubclient.DaemonExecutable(self)
}
