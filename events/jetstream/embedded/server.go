// Package embedded is the nats-server with JetStream that a hub runs in its own process: the
// store lock that keeps a second server off the same files, storage limits sized to the
// filesystem, and the fault handling (stop writes, reopen, store lost). Clients never link
// it: they reach the server through events/jetstream.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

// Server is the embedded nats-server with JetStream that the hub owns. New fills the
// defaults; the exported fields are the knobs; Open locks the store and starts it.
type Server struct {
	// Dir holds the store lock and nats-server's files ($MCPCTL_HOME/hub).
	Dir string
	// Host is the listen address; loopback only.
	Host string
	// Port to listen on; 0 picks PreferPort when it is free, else a random port.
	Port int
	// PreferPort is the port of the previous run (from its address file), tried first.
	PreferPort int
	// Token is the client authorization token. Required.
	Token string
	// SyncAlways fsyncs every write before it is acknowledged (survives kill -9 and power
	// loss). False uses nats-server's lazy periodic sync.
	SyncAlways bool

	// The streams' retention and replicas (EventsMaxBytes, NotifyMaxAge, …).
	jetstream.StreamConfig

	// Logger receives nats-server's log lines (at debug level for its debug output).
	// Nil: nats-server logs nothing.
	Logger *slog.Logger

	mu     sync.Mutex
	lock   *flock.Flock
	ns     *server.Server
	url    string
	limits Limits
	// jsConfig is JetStream's configuration as started, to start it again (Reopen).
	jsConfig *server.JetStreamConfig
}

// storeSubdir holds nats-server's own files, next to the lock.
const storeSubdir = "jetstream"

// Limits are the storage limits a running server applies, sized to its filesystem.
type Limits struct {
	// Space is what the filesystem offered when the server opened.
	Space jetstream.Space
	// MaxStore is nats-server's limit for all file storage (the budget: free + used).
	MaxStore int64
	// EventsMaxBytes and NotifyMaxBytes are the streams' size limits (<= 0: none).
	EventsMaxBytes int64
	NotifyMaxBytes int64
}

// NewServer returns a server for the store in dir with the default knobs.
func NewServer(dir string) *Server {
	return &Server{
		Dir:          dir,
		Host:         jetstream.DefaultHost,
		SyncAlways:   true,
		StreamConfig: jetstream.DefaultStreamConfig(),
	}
}

// LockPath is the path of the store lock.
func (s *Server) LockPath() string { return filepath.Join(s.Dir, jetstream.LockFile) }

// Open takes the store lock, starts nats-server and ensures the streams and the bucket.
// A store locked by another process gives an error wrapping events.ErrLocked.
func (s *Server) Open() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns != nil {
		return errors.New("jetstream server: already open")
	}
	if s.Dir == "" {
		return errors.New("jetstream server: no store directory")
	}
	if s.Token == "" {
		return errors.New("jetstream server: no token")
	}
	host := s.Host
	if host == "" {
		host = jetstream.DefaultHost
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("jetstream server: host %q is not a loopback address", host)
	}
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return fmt.Errorf("jetstream server: %w", err)
	}

	// The lock comes first and is held until Close: nats-server has no lock of its own.
	lk := flock.New(s.LockPath(), flock.SetPermissions(0o600))
	ok, err := lk.TryLock()
	if err != nil {
		return fmt.Errorf("jetstream server: lock %s: %w", s.LockPath(), err)
	}
	if !ok {
		holder := ""
		if b, rerr := os.ReadFile(s.LockPath()); rerr == nil {
			if pid, perr := strconv.Atoi(strings.TrimSpace(string(b))); perr == nil && pid > 0 {
				holder = fmt.Sprintf(" (held by pid %d)", pid)
			}
		}
		return fmt.Errorf("%w: %s%s", events.ErrLocked, s.LockPath(), holder)
	}
	defer func() {
		if err != nil {
			_ = lk.Unlock()
		}
	}()
	// Record the holder for the error message of the next one; a stale pid from a crashed
	// run is simply overwritten.
	if err := os.WriteFile(s.LockPath(), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("jetstream server: write %s: %w", s.LockPath(), err)
	}

	// Size the limits to the filesystem: nats-server reserves every stream's MaxBytes up
	// front against MaxStore, and its own MaxStore is 75% of what is free at start.
	sp, err := jetstream.StoreSpace(s.Dir)
	if err != nil {
		return fmt.Errorf("jetstream server: %w", err)
	}
	lim := Limits{Space: sp, MaxStore: max(sp.Budget(), jetstream.MinStreamBytes)}
	lim.EventsMaxBytes, lim.NotifyMaxBytes = jetstream.FitLimits(sp, s.EventsMaxBytes, s.NotifyMaxBytes)

	port := s.Port
	if port == 0 {
		port = server.RANDOM_PORT
		if s.PreferPort > 0 && portFree(host, s.PreferPort) {
			port = s.PreferPort
		}
	}
	opts := &server.Options{
		ServerName:      "mcpctl-hub",
		Host:            host,
		Port:            port,
		Authorization:   s.Token,
		JetStream:       true,
		StoreDir:        filepath.Join(s.Dir, storeSubdir),
		NoSigs:          true,
		NoLog:           s.Logger == nil,
		NoSystemAccount: true,
		// No HTTP monitor, no cluster: one process owns this store.
		HTTPPort:   0,
		MaxPayload: 8 << 20,
		SyncAlways: s.SyncAlways,
		// An explicit limit: the space the store may use, not 75% of what is free.
		JetStreamMaxStore: lim.MaxStore,
	}
	if s.SyncAlways {
		opts.SyncInterval = 2 * time.Minute // the periodic sync is moot: every write is synced
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("jetstream server: %w", err)
	}
	if s.Logger != nil {
		ns.SetLoggerV2(&slogAdapter{l: s.Logger}, s.Logger.Enabled(context.Background(), slog.LevelDebug), false, false)
	}
	ns.Start()
	if !ns.ReadyForConnections(jetstream.DefaultReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return fmt.Errorf("jetstream server: not ready after %s (store %s)", jetstream.DefaultReadyTimeout, opts.StoreDir)
	}
	ctx, cancel := context.WithTimeout(context.Background(), jetstream.DefaultReadyTimeout)
	defer cancel()
	if err := s.ensure(ctx, ns, lim); err != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
		return err
	}
	s.lock, s.ns, s.url, s.limits = lk, ns, ns.ClientURL(), lim
	s.jsConfig = ns.JetStreamConfig()
	return nil
}

// ensure creates or updates the streams and the bucket on ns with the limits lim.
func (s *Server) ensure(ctx context.Context, ns *server.Server, lim Limits) error {
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Token(s.Token), nats.Name("mcpctl-hub-setup"))
	if err != nil {
		return fmt.Errorf("jetstream server: connect in-process: %w", err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		return fmt.Errorf("jetstream server: %w", err)
	}
	cfg := s.StreamConfig
	cfg.EventsMaxBytes, cfg.NotifyMaxBytes = lim.EventsMaxBytes, lim.NotifyMaxBytes
	if err := jetstream.EnsureStreams(ctx, js, cfg); err != nil {
		if jetstream.IsNoSpace(err) {
			err = fmt.Errorf("%w: %s free on the filesystem of %s: %w", events.ErrDiskFull, jetstream.HumanBytes(lim.Space.Free), s.Dir, err)
		}
		return fmt.Errorf("jetstream server: %w", err)
	}
	return nil
}

// Limits returns the storage limits the open server applies.
func (s *Server) Limits() Limits {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.limits
}

// ClientURL is the nats:// URL clients dial ("" before Open).
func (s *Server) ClientURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// ListenPort returns the port the server listens on (0 before Open).
func (s *Server) ListenPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns == nil {
		return 0
	}
	if a, ok := s.ns.Addr().(*net.TCPAddr); ok {
		return a.Port
	}
	return 0
}

// NATS returns the running nats-server, for in-process connections (nats.InProcessServer).
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ns
}

// Close shuts the server down, waits for it and releases the store lock. Closing a server
// that is not open does nothing.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ns == nil {
		return nil
	}
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
	s.ns, s.url = nil, ""
	err := s.lock.Unlock()
	s.lock = nil
	if err != nil {
		return fmt.Errorf("jetstream server: unlock %s: %w", s.LockPath(), err)
	}
	return nil
}

func portFree(host string, port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	_ = l.Close()
	return true
}

// slogAdapter sends nats-server's log lines to a slog.Logger.
type slogAdapter struct{ l *slog.Logger }

func (a *slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a *slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }

// StorageFault reports why the store cannot take writes now, or nil: JetStream is down
// (a write failure stopped it, or StopWrites did) or a stream or the bucket met a write
// error. A stream that met one keeps failing (nats-server keeps the error, and answers no
// publish on it) until JetStream is started again: see Reopen.
func (s *Server) StorageFault() error {
	s.mu.Lock()
	ns := s.ns
	s.mu.Unlock()
	if ns == nil {
		return errors.New("jetstream server: not open")
	}
	if !ns.JetStreamEnabled() {
		return errors.New("jetstream is stopped")
	}
	h := ns.Healthz(&server.HealthzOptions{})
	if h != nil && h.Error != "" && strings.Contains(h.Error, "write error") {
		return errors.New(h.Error)
	}
	return nil
}

// StopWrites stops JetStream: every stream request fails at once (no responders) instead
// of timing out against a store that answers no write. Core NATS keeps running, so clients
// stay connected and can be told why.
func (s *Server) StopWrites() error {
	s.mu.Lock()
	ns := s.ns
	s.mu.Unlock()
	if ns == nil || !ns.JetStreamEnabled() {
		return nil
	}
	return ns.ShutdownJetStream()
}

// Reopen starts JetStream again after StopWrites (or after a write error), which reloads
// every stream from its files: the streams forget their write errors, and whatever was not
// written is not there. The space is measured again, and the limits with it.
func (s *Server) Reopen(ctx context.Context) error {
	s.mu.Lock()
	ns := s.ns
	s.mu.Unlock()
	if ns == nil {
		return errors.New("jetstream server: not open")
	}
	if ns.JetStreamEnabled() {
		if err := s.StopWrites(); err != nil {
			return fmt.Errorf("jetstream server: stop: %w", err)
		}
	}
	cfg := s.jsConfig
	if cfg == nil {
		return errors.New("jetstream server: no configuration to restart with")
	}
	sp, err := jetstream.StoreSpace(s.Dir)
	if err != nil {
		return fmt.Errorf("jetstream server: %w", err)
	}
	lim := Limits{Space: sp, MaxStore: max(sp.Budget(), jetstream.MinStreamBytes)}
	lim.EventsMaxBytes, lim.NotifyMaxBytes = jetstream.FitLimits(sp, s.EventsMaxBytes, s.NotifyMaxBytes)
	c := *cfg
	// EnableJetStream appends "jetstream" to the directory it is given, as at start.
	c.StoreDir = filepath.Join(s.Dir, storeSubdir)
	c.MaxStore = lim.MaxStore
	if err := ns.EnableJetStream(&c); err != nil {
		return fmt.Errorf("jetstream server: restart jetstream: %w", err)
	}
	if err := s.ensure(ctx, ns, lim); err != nil {
		_ = ns.ShutdownJetStream()
		return err
	}
	s.mu.Lock()
	s.limits = lim
	s.mu.Unlock()
	return nil
}

// StoreLost reports, as an error wrapping events.ErrStoreLost, a store that was removed or
// replaced under the running server: the lock file this server holds is no longer the one
// at its path, or nats-server's directory is gone. Whatever the server writes then goes to
// files nobody will read again, and another server could lock the new path: the owner must
// stop taking writes and shut down.
func (s *Server) StoreLost() error {
	s.mu.Lock()
	lk := s.lock
	s.mu.Unlock()
	if lk == nil {
		return nil
	}
	held, err := lk.Stat()
	if err != nil {
		return fmt.Errorf("%w: the store lock: %v", events.ErrStoreLost, err)
	}
	cur, err := os.Stat(s.LockPath())
	if err != nil {
		return fmt.Errorf("%w: %v", events.ErrStoreLost, err)
	}
	if !os.SameFile(held, cur) {
		return fmt.Errorf("%w: %s is another file than the one this hub locked", events.ErrStoreLost, s.LockPath())
	}
	if _, err := os.Stat(filepath.Join(s.Dir, storeSubdir)); err != nil {
		return fmt.Errorf("%w: %v", events.ErrStoreLost, err)
	}
	return nil
}
