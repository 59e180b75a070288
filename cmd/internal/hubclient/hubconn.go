package hubclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/remote"
	"github.com/mcpctl/mcpctl/projector"

	"github.com/gofrs/flock"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// Hub start-up limits.
const (
	hubStartTimeout = 15 * time.Second
	HubStopTimeout  = 10 * time.Second
	// spawnLockRetry: how often a locked spawn lock is tried again (flock cannot wait
	// with a deadline). It is held for one hub's start-up.
	spawnLockRetry = 2 * time.Millisecond
)

// HubTarget is which hub a client reaches, and how it starts one: what connectHub needs from
// the command line, resolved.
type HubTarget struct {
	Home  homedir.Home
	Node  string
	Build string
	// Self is the running executable; the daemon binary is looked up next to it.
	Self func() (string, error)
	// Cluster is the external NATS cluster; nil means the embedded hub.
	Cluster *jetstream.ClusterOptions
	// ClusterEnv is what a hub started for the cluster needs in its environment.
	ClusterEnv []string
}

// DaemonName is the daemon binary, installed next to mcpctl: it runs the hub and the bridges.
const DaemonName = "mcpctld"

// DaemonExecutable finds mcpctld: $MCPCTL_DAEMON, else next to self (the running binary).
func DaemonExecutable(self func() (string, error)) (string, error) {
	if p := os.Getenv("MCPCTL_DAEMON"); p != "" {
		return p, nil
	}
	exe, err := self()
	if err != nil {
		return "", err
	}
	p := filepath.Join(filepath.Dir(exe), DaemonName)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s not found next to %s: install both binaries (go install ./cmd/...), or build them into one directory (go build -o bin/ ./cmd/mcpctl ./cmd/mcpctld)", DaemonName, exe)
	}
	return p, nil
}

// HubConn is a command's connection to the running hub. Its parts are interfaces, so a
// command runs the same against events.MemLog and projector.MemStore in a unit test
// (cmdkit/cmdtest) as against JetStream.
type HubConn struct {
	Log    events.Log
	Store  Store
	Notes  Notifications
	Remote Remote
	Admin  Admin
	Addr   jetstream.Address
	Node   string
	Home   homedir.Home
	// close drops the connection (nil: nothing to drop).
	close func()
}

// Store is the projection as commands read it: the key/value store and a watch on one key.
type Store interface {
	projector.Store
	projector.KeyWatcher
}

// Notifications reads the MCP servers' notifications (a stream of their own, beside the log).
type Notifications interface {
	ReadNotifications(ctx context.Context, q jetstream.NotifyQuery, fn func(jetstream.Notification) error) error
	FollowNotifications(ctx context.Context, q jetstream.NotifyQuery, fn func(jetstream.Notification) error) error
}

// Remote sends one MCP request to the bridge of a session on another node, and asks that
// node's hub about the session (Session) and for its log (Logs).
type Remote interface {
	Request(ctx context.Context, node, session, method string, params json.RawMessage) (json.RawMessage, error)
	Session(ctx context.Context, what, node, session string) (projector.Session, error)
	Logs(ctx context.Context, node, session string, lines int, follow bool, w io.Writer) error
}

// Admin is what doctor, hub status and waits ask of the hub beyond the log.
type Admin interface {
	// Fault is the hub's storage fault; nil when it has none.
	Fault(ctx context.Context) error
	// Lost reports a connection closed for good.
	Lost() bool
	// Stream returns a stream's state and limits.
	Stream(ctx context.Context, name string) (jetstream.StreamState, error)
	// ResetBucket empties the session bucket (doctor's repair).
	ResetBucket(ctx context.Context, replicas int) error
}

// newConn is a connection on nc, with the log and the projection store on it.
func newConn(nc *nats.Conn, log *jetstream.Log, store *jetstream.Store, addr jetstream.Address, node string, home homedir.Home) *HubConn {
	return &HubConn{Log: log, Store: store, Notes: log, Remote: remote.Client{NC: nc}, Admin: log,
		Addr: addr, Node: node, Home: home, close: nc.Close}
}

// Close drops the connection.
func (h *HubConn) Close() {
	if h != nil && h.close != nil {
		h.close()
	}
}

// connectHub returns a connection to this home's hub, starting one when none answers.
// Fast path: read the address file, dial. Slow path, under the spawn lock: check again,
// replace a hub of another build, start a hub, wait on its readiness pipe (hubready.go).
func ConnectHub(ctx context.Context, t HubTarget) (*HubConn, error) {
	if t.Cluster != nil {
		return connectExternal(ctx, t)
	}
	home, node := t.Home, t.Node
	if err := home.Ensure(); err != nil {
		return nil, err
	}
	token, err := jetstream.LoadOrCreateToken(home.TokenFile())
	if err != nil {
		return nil, err
	}
	if h, err := dialHub(ctx, home, node, token, t.Build); err == nil {
		return h, nil
	} else if jetstream.IsStorageFault(err) {
		return nil, err // the hub runs, and says why it cannot serve: not a hub to replace
	}

	lctx, cancel := context.WithTimeout(ctx, hubStartTimeout)
	defer cancel()
	// A live hub that owns the store is waited for without the spawn lock: parallel
	// commands facing a stopped hub then each wait for it and each say why they gave up,
	// instead of queueing behind the one that holds the lock.
	if h, err := joinStoreOwner(ctx, lctx, home, node, token, t.Build, false); h != nil || err != nil {
		return h, err
	}

	lock := flock.New(home.SpawnLock())
	ok, err := lock.TryLockContext(lctx, spawnLockRetry)
	if err != nil || !ok {
		return nil, fmt.Errorf("waiting for the hub spawn lock %s: %w", home.SpawnLock(), errors.Join(err, ctx.Err()))
	}
	defer lock.Unlock()

	if h, err := dialHub(ctx, home, node, token, t.Build); err == nil {
		return h, nil
	}
	if h, err := joinStoreOwner(ctx, lctx, home, node, token, t.Build, true); h != nil || err != nil {
		return h, err
	}
	if addr, err := jetstream.ReadAddress(home.AddressFile()); err == nil && addr.Build != t.Build {
		if err := StopHubProcess(ctx, addr, HubStopTimeout); err != nil && !errors.Is(err, ErrNotAHub) {
			return nil, fmt.Errorf("replace the hub of build %s: %w", addr.Build, err)
		}
	}
	logStart := fileSize(home.HubLog()) // what this hub writes comes after it
	pid, ready, err := spawnHub(ctx, t)
	if err != nil {
		return nil, err
	}
	if err := awaitHub(lctx, ready, home, pid, logStart); err != nil {
		return nil, err
	}
	h, err := dialHub(ctx, home, node, token, t.Build)
	if err != nil {
		return nil, fmt.Errorf("the hub (pid %d) said it serves, but: %w", pid, err)
	}
	return h, nil
}

// joinStoreOwner handles a live hub that owns the store but did not answer the dial. It
// applies the liveness rule (docs/design.md, "Hub liveness"): one failed dial is no proof
// that a hub is dead, so a CLI replaces the owner only when hub.json names it and it is of
// another build, or when it answered and refused this home's token. Otherwise the owner is
// slow, stopped, still starting, or rewriting a damaged hub.json: the CLI keeps dialing it
// until it answers, its process is gone (the caller then spawns a new hub), or the
// command's own deadline (at most hubStartTimeout) passes, and then fails with exit 3
// naming the pid and its state. It never signals a hub because a deadline ran out. It
// returns (nil, nil) when the caller should go on and spawn, or, without mayReplace (the
// caller does not hold the spawn lock), when the owner is to be replaced.
func joinStoreOwner(ctx, lctx context.Context, home homedir.Home, node, token, build string, mayReplace bool) (*HubConn, error) {
	owner := storeOwner(home)
	if owner <= 0 {
		return nil, nil
	}
	var (
		lastErr error
		named   bool // hub.json names the owner
		pause   = backoff.New(hubRedialFirst, hubRedialPause)
	)
	for {
		addr, err := jetstream.ReadAddress(home.AddressFile())
		named = err == nil && addr.PID == owner
		if named {
			if addr.Build != build {
				if !mayReplace {
					return nil, nil
				}
				return nil, replaceHub(ctx, owner, "of build "+addr.Build)
			}
			h, err := dialHub(lctx, home, node, token, build)
			if err == nil {
				return h, nil
			}
			if jetstream.IsStorageFault(err) {
				return nil, err // it runs, and says why it cannot serve: not a hub to replace
			}
			if errors.Is(err, nats.ErrAuthorization) {
				if !mayReplace {
					return nil, nil
				}
				return nil, replaceHub(ctx, owner, "that refuses this home's token")
			}
			if errors.Is(err, njs.ErrBucketNotFound) || errors.Is(err, njs.ErrStreamNotFound) {
				// It answered, but its event stream or session bucket is gone (deleted
				// behind its back): a new hub recreates them from the store and the log.
				if !mayReplace {
					return nil, nil
				}
				return nil, replaceHub(ctx, owner, "whose event stream or session bucket is missing")
			}
			lastErr = err
		}
		if _, err := proc.StartTime(owner); err != nil {
			return nil, nil // gone, and its lock with it
		}
		if pause.Wait(lctx) != nil {
			return nil, hubNotAnswering(home, owner, named, lastErr, lctx)
		}
	}
}

// The pauses between dials of a hub that does not answer grow from hubRedialFirst to
// hubRedialPause.
const (
	hubRedialFirst = 2 * time.Millisecond
	hubRedialPause = 100 * time.Millisecond
)

// replaceHub stops a hub that the liveness rule says must be replaced.
func replaceHub(ctx context.Context, pid int, why string) error {
	if err := StopHubProcess(ctx, jetstream.Address{PID: pid}, HubStopTimeout); err != nil && !errors.Is(err, ErrNotAHub) {
		return fmt.Errorf("replace the hub (pid %d) %s: %w", pid, why, err)
	}
	return nil
}

// hubNotAnswering is the error for a live hub that did not answer in time: it names the pid
// and what /proc says of it (a stopped hub is named as such), and says it was left alone.
func hubNotAnswering(home homedir.Home, pid int, named bool, lastErr error, lctx context.Context) error {
	why := context.Cause(lctx)
	if why == nil {
		why = lctx.Err()
	}
	what := "is not answering"
	if !named {
		what = "owns the store of " + home.Dir + " but is not answering: hub.json does not name it"
	}
	hint := fmt.Sprintf("mcpctl hub status; a hub that stays unresponsive can be ended with kill %d (the next command starts a new one)", pid)
	st, err := proc.ReadStat(pid)
	switch {
	case err != nil:
	case st.State == 'T' || st.State == 't':
		what += fmt.Sprintf("; it is stopped (state %q in /proc/%d/stat: SIGSTOP, job control or a debugger)", st.State, pid)
		hint = fmt.Sprintf("kill -CONT %d (resumes it, with everything it holds)", pid)
	case st.State == 'D':
		what += fmt.Sprintf(" (state D in /proc/%d/stat: waiting on the disk)", pid)
	}
	err = fmt.Errorf("the hub (pid %d) %s; it was not signalled: %w", pid, what, why)
	if lastErr != nil {
		err = fmt.Errorf("%w (last dial: %v)", err, lastErr)
	}
	return clierr.WithHint(err, clierr.ExitNetwork, hint)
}

// storeOwner returns the pid holding the store lock, or 0 when no process holds it.
func storeOwner(home homedir.Home) int {
	path := filepath.Join(home.StoreDir(), jetstream.LockFile)
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	probe := flock.New(path)
	got, err := probe.TryLock()
	if err != nil {
		return 0
	}
	if got {
		_ = probe.Unlock()
		return 0
	}
	b, _ := os.ReadFile(path)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

// dialHub connects to the hub named in the address file, if it is of this build.
func dialHub(ctx context.Context, home homedir.Home, node, token, build string) (*HubConn, error) {
	addr, err := jetstream.ReadAddress(home.AddressFile())
	if err != nil {
		return nil, err
	}
	if addr.Build != build {
		return nil, fmt.Errorf("%w: the running hub is of build %s, this is %s", events.ErrNoHub, addr.Build, build)
	}
	nc, err := jetstream.Dial(ctx, addr.URL, token)
	if err != nil {
		return nil, err // wraps events.ErrNoHub and the NATS error
	}
	log, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	store, err := jetstream.OpenStore(ctx, log.JetStream())
	if err != nil {
		nc.Close()
		return nil, err
	}
	return newConn(nc, log, store, addr, node, home), nil
}

// spawnHub starts `mcpctl hub run` detached: its own session, stdin from /dev/null, output to
// the hub log. It never inherits the caller's pipes: a daemon holding them makes $(mcpctl …)
// and test harnesses hang. Its one extra descriptor is the write end of the readiness pipe
// (hubready.go), whose read end is returned for awaitHub.
func spawnHub(ctx context.Context, t HubTarget) (int, *os.File, error) {
	home := t.Home
	exe, err := DaemonExecutable(t.Self)
	if err != nil {
		return 0, nil, err
	}
	logf, err := os.OpenFile(home.HubLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, nil, fmt.Errorf("open hub log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, nil, err
	}
	defer devnull.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		return 0, nil, fmt.Errorf("readiness pipe: %w", err)
	}
	defer readyW.Close() // the hub holds its own copy: EOF comes when it is gone
	cmd := exec.Command(exe, "hub", "run")
	cmd.Env = append(append(homedir.DaemonEnv(os.Environ(), t.Cluster != nil), t.ClusterEnv...),
		"MCPCTL_HOME="+home.Dir, HubReadyEnv+"="+strconv.Itoa(hubReadyFD))
	cmd.Stdin = devnull
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		ready.Close()
		return 0, nil, fmt.Errorf("start hub: %w", err)
	}
	pid := cmd.Process.Pid
	// Reap it if it dies while we wait; once we exit, init does.
	go func() { _ = cmd.Wait() }()
	return pid, ready, nil
}

// stopHubProcess asks the hub in addr to stop (SIGTERM, then SIGKILL after timeout) and
// waits on a pidfd until its process is gone.
// A pid that names no hub process (gone, or reused by another program) is left alone:
// nil when it is gone, ErrNotAHub when another program has it.
// ErrNotAHub: the pid in hub.json belongs to a process that is not a hub.
var ErrNotAHub = errors.New("not a hub process")

func StopHubProcess(ctx context.Context, addr jetstream.Address, timeout time.Duration) error {
	start, err := proc.StartTime(addr.PID)
	if err != nil {
		return nil // already gone
	}
	if !isHubProcess(addr.PID) {
		return ErrNotAHub // the PID was reused by something else
	}
	pfd, err := proc.OpenPidfd(addr.PID, start)
	if errors.Is(err, proc.ErrNoProcess) {
		return nil
	}
	if err != nil {
		return err
	}
	defer pfd.Close()
	return pfd.Stop(ctx, timeout)
}

func isHubProcess(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	return len(args) >= 3 && args[1] == "hub" && args[2] == "run"
}

func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte(" | ")))
}

// fileSize returns the size of path (0 when it does not exist).
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// hubStartError says why the hub spawned as pid exited during start-up, from what it wrote
// to the hub log after offset: its own error line (the one `hub run` prints last), else the
// tail of its output. Lines of earlier hubs are never shown as this one's cause.
func hubStartError(home homedir.Home, pid int, offset int64) error {
	why := "it wrote nothing to " + home.HubLog()
	if b, err := readFrom(home.HubLog(), offset); err == nil && len(bytes.TrimSpace(b)) > 0 {
		lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
		why = string(bytes.Join(lines[max(0, len(lines)-3):], []byte(" | ")))
		for i := len(lines) - 1; i >= 0; i-- {
			if l := bytes.TrimSpace(lines[i]); bytes.HasPrefix(l, []byte("mcpctl: ")) {
				why = string(bytes.TrimPrefix(l, []byte("mcpctl: ")))
				break
			}
		}
	}
	// A hub on a full disk may not even get its error into the log.
	if sp, serr := jetstream.StoreSpace(home.Dir); serr == nil && sp.Free < jetstream.ResumeFree(sp) && !strings.Contains(why, events.ErrDiskFull.Error()) {
		why = fmt.Sprintf("%v: %s free on the filesystem of %s (%s)", events.ErrDiskFull, jetstream.HumanBytes(sp.Free), home.Dir, why)
	}
	err := fmt.Errorf("the hub (pid %d) exited during start-up: %s", pid, why)
	if strings.Contains(why, events.ErrDiskFull.Error()) {
		return clierr.WithHint(fmt.Errorf("%w: %w", err, events.ErrDiskFull), clierr.ExitNetwork, "free space on the filesystem of "+home.Dir+" (df -h "+home.Dir+")")
	}
	for _, refusal := range []error{events.ErrRefused, events.ErrDenied} {
		if strings.Contains(why, refusal.Error()) {
			// The hub's own credentials or permissions: it cannot serve, and a retry cannot help.
			return clierr.WithHint(fmt.Errorf("%w: %w", err, refusal), clierr.ExitAuth, "check the hub's NATS credentials and permissions (docs/cluster.md, \"Permissions per role\")")
		}
	}
	return clierr.WithHint(err, clierr.ExitNetwork, "mcpctl hub run (in the foreground, to see why)")
}

// readFrom returns the contents of path after offset (all of it when the file is shorter:
// it was rotated or truncated).
func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() < offset {
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(io.LimitReader(f, 1<<20))
}

// splitTarget splits "name@node" ("" node: no node given).
func SplitTarget(name string) (session, node string) {
	session, node, _ = strings.Cut(name, "@")
	return session, node
}

// target resolves "name@node" to the connection as seen from that node (its Node is the
// session's node) and the plain session name. A name without a node, or with this node's,
// is local.
func (h *HubConn) Target(name string) (*HubConn, string) {
	session, node := SplitTarget(name)
	if node == "" || node == h.Node {
		return h, session
	}
	c := *h
	c.Node = node
	return &c, session
}
