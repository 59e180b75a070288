package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
)

// Config is what a bridge needs to hold one session generation.
type Config struct {
	Session string
	Server  events.Server
	// Headers and Env are the secret values named by Server.HeaderNames / EnvNames.
	Headers map[string]string
	Env     map[string]string
	// BaseEnv is the environment a stdio server starts from (StdioOptions.BaseEnv).
	BaseEnv []string
	// SocketPath is where to listen ($MCPCTL_HOME/bridges/<session>.<pid>.sock); a path too
	// long for sun_path falls back to FallbackDir (Bridge.SocketPath says which).
	SocketPath string
	// Protocol overrides Server.Protocol and the transport's default as the revision to
	// start with: 2026-07-28 or later is probed with server/discover, falling back to
	// initialize at the newest revision the server names; an older one goes straight to
	// initialize.
	Protocol string
	// KnownProtocol is the revision the session's previous generation negotiated (its
	// bridge_ready protocol_version). Unless Protocol or Server.Protocol pins one, the
	// handshake starts with it, so that only a session's first generation risks the probe's
	// short bound: a legacy revision skips the server/discover probe, a modern one is waited
	// for (a slow start is not a legacy server).
	KnownProtocol string
	// DiscoverTimeout bounds the server/discover probe (0: the transport's default,
	// DefaultStdioDiscoverTimeout or DefaultHTTPDiscoverTimeout).
	DiscoverTimeout time.Duration
	// Stderr receives a stdio server's stderr (the session log).
	Stderr io.Writer
	Logger *slog.Logger

	// ClientInfo is how the bridge introduces itself (default mcpctl/dev).
	ClientInfo ClientInfo
	// Asks is the session's policy for the server's asks (elicitation, roots, sampling)
	// and the client capabilities declared for them.
	Asks AskPolicy
	// OnNotification, when set, sees every server notification (for the event log). It
	// runs on the upstream's reader: it must not block for long.
	OnNotification func(method string, params json.RawMessage)
	// OnTask, when set, is told of each change of the MCP tasks created through this
	// bridge (tasks.go). It runs on the call's goroutine (before the call is answered) or
	// a poller's: it must not block for long.
	OnTask func(TaskRecord)
	// OnCall, when set, is told of each request forwarded to the server (Server.OnCall).
	OnCall func(method string, took time.Duration, err error)
	// AnswerInput, when set, answers what a 2026-07-28 server asks for in an
	// input_required round (elicitation, sampling, roots), with the context of the call
	// that caused it. Without it, or when it returns ErrNoAnswer, an elicitation is
	// declined and any other ask fails the call. (2025-11-25 server requests take the
	// transport's request path, not this.)
	AnswerInput AnswerInputFunc
	// HTTPClient is the base client of an HTTP or SSE server (HTTPOptions.HTTPClient); the
	// OAuth profile's transport comes in here.
	HTTPClient *http.Client
	// ResumeSessionID and ResumeInitialize resume a Streamable HTTP session (HTTPOptions).
	ResumeSessionID  string
	ResumeInitialize json.RawMessage
	// PingInterval is how often the server is pinged (0: DefaultPingInterval, <0: never);
	// PingFailures consecutive failures (default DefaultPingFailures) make the server lost.
	PingInterval time.Duration
	PingFailures int
	PingTimeout  time.Duration
	// MaxConns bounds the socket connections (default DefaultMaxConns).
	MaxConns int
}

// Bridge defaults.
const (
	DefaultPingInterval = 30 * time.Second
	DefaultPingFailures = 3
	DefaultPingTimeout  = 10 * time.Second
)

// Bridge holds an initialized MCP connection and serves it on a Unix socket.
type Bridge struct {
	cfg    Config
	logger *slog.Logger

	up     Upstream
	srv    atomic.Pointer[Server]
	init   json.RawMessage
	info   serverInfo
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu   sync.Mutex
	err  error
	done chan struct{}

	closeOnce sync.Once
	closeErr  error

	tasks atomic.Pointer[taskTracker] // nil without Config.OnTask
}

type serverInfo struct {
	ProtocolVersion string `json:"protocolVersion"`
	ServerInfo      struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	} `json:"serverInfo"`
}

// New returns a Bridge for cfg with defaults filled in. Open starts it.
func New(cfg Config) *Bridge {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultPingInterval
	}
	if cfg.PingFailures <= 0 {
		cfg.PingFailures = DefaultPingFailures
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = rpc.DefaultMaxConns
	}
	return &Bridge{cfg: cfg, logger: cfg.Logger.With("session", cfg.Session), done: make(chan struct{})}
}

// Open connects to the server (starting it for stdio), initializes the MCP connection,
// and listens on the socket. When it returns nil the bridge is ready: the caller appends
// bridge_ready with SocketPath, ServerName, ServerVersion, ProtocolVersion, MCPSessionID.
func (b *Bridge) Open(ctx context.Context) error {
	if err := events.ValidateSession(b.cfg.Session); err != nil {
		return err
	}
	if b.cfg.SocketPath == "" {
		return errors.New("bridge: no socket path")
	}
	up, init, err := b.connect(ctx, b.protocol())
	if err != nil && errors.Is(err, errLostOnProbe) && b.cfg.Server.Transport == events.TransportStdio {
		// A stdio server that dies on the unknown server/discover is started again with
		// the initialize handshake: one extra spawn, and the session remembers the
		// revision that worked (KnownProtocol) so that later generations do not probe.
		b.logger.Warn("the server exited on the server/discover probe; starting it again with initialize", "err", err)
		up, init, err = b.connect(ctx, mcp.LATEST_LEGACY_PROTOCOL_VERSION)
	}
	if err != nil {
		return err
	}
	b.up = up
	b.init = init
	_ = json.Unmarshal(init, &b.info)

	srv := NewServer(up, init)
	srv.Logger = b.logger
	srv.MaxConns = b.cfg.MaxConns
	srv.OnCall = b.cfg.OnCall
	runCtx, cancel := context.WithCancel(context.Background())
	if b.cfg.OnTask != nil {
		t := newTaskTracker(runCtx, up, b.cfg.OnTask)
		b.tasks.Store(t)
		srv.onResult = t.observe
	}
	if err := srv.Listen(b.cfg.SocketPath); err != nil {
		cancel()
		_ = up.Close(context.Background(), CloseOptions{})
		return fmt.Errorf("bridge: %w", err)
	}
	b.srv.Store(srv)

	b.cancel = cancel
	b.wg.Add(1)
	go b.watch(runCtx)
	if b.cfg.PingInterval > 0 {
		b.wg.Add(1)
		go b.pingLoop(runCtx)
	}
	b.logger.Info("bridge ready", "socket", srv.Path(), "server", b.info.ServerInfo.Name,
		"protocol", b.info.ProtocolVersion, "mcp_session", up.SessionID())
	return nil
}

// protocol is the revision to start with: a pin, else what the previous generation
// negotiated, else ("") the transport's default.
func (b *Bridge) protocol() string {
	for _, p := range []string{b.cfg.Protocol, b.cfg.Server.Protocol, b.cfg.KnownProtocol} {
		if p != "" {
			return p
		}
	}
	return ""
}

// discoverTimeout bounds the server/discover probe at protocol. The short default bound is
// for a first connect, when the server may predate 2026-07-28 and ignore the method. A
// modern revision pinned (--protocol) or negotiated by the session's last generation says
// the server speaks it: a server still starting (npx, a slow stdio server) is then waited for
// as long as Open's context allows, and never taken for a legacy one because it was slow
// (which made a 2026-07-28-only server fail initialize on every restart).
func (b *Bridge) discoverTimeout(protocol string) time.Duration {
	if b.cfg.DiscoverTimeout != 0 {
		return b.cfg.DiscoverTimeout
	}
	if protocol != "" && mcp.IsModernProtocol(protocol) {
		return -1
	}
	return 0
}

// connect dials the server and negotiates the revision, starting with protocol.
func (b *Bridge) connect(ctx context.Context, protocol string) (Upstream, json.RawMessage, error) {
	up, err := b.dial(ctx, protocol)
	if err != nil {
		return nil, nil, err
	}
	up.OnNotification(b.notification)
	onListening(up, b.listening)
	SetAsks(up, b.cfg.Asks)
	init, err := up.Initialize(ctx)
	if err != nil {
		_ = up.Close(context.Background(), CloseOptions{})
		return nil, nil, err
	}
	return up, init, nil
}

func (b *Bridge) dial(ctx context.Context, protocol string) (Upstream, error) {
	s := b.cfg.Server
	switch s.Transport {
	case events.TransportStdio:
		return StartStdio(ctx, StdioOptions{Command: s.Command, Args: s.Args, Dir: s.Cwd, Env: b.cfg.Env, BaseEnv: b.cfg.BaseEnv,
			Stderr: b.cfg.Stderr, Protocol: protocol, DiscoverTimeout: b.discoverTimeout(protocol),
			ClientInfo: b.cfg.ClientInfo, Logger: b.logger, AnswerInput: b.cfg.AnswerInput})
	case events.TransportHTTP:
		return DialHTTP(ctx, HTTPOptions{URL: s.URL, Headers: b.cfg.Headers, Protocol: protocol,
			DiscoverTimeout: b.discoverTimeout(protocol), ClientInfo: b.cfg.ClientInfo, Logger: b.logger,
			AnswerInput: b.cfg.AnswerInput, ResumeSessionID: b.cfg.ResumeSessionID, ResumeInitialize: b.cfg.ResumeInitialize,
			HTTPClient: b.cfg.HTTPClient})
	case events.TransportSSE:
		return DialSSE(ctx, HTTPOptions{URL: s.URL, Headers: b.cfg.Headers, Protocol: protocol,
			ClientInfo: b.cfg.ClientInfo, Logger: b.logger, HTTPClient: b.cfg.HTTPClient})
	}
	return nil, fmt.Errorf("bridge: unknown transport %q", s.Transport)
}

func (b *Bridge) notification(method string, params json.RawMessage) {
	if srv := b.srv.Load(); srv != nil {
		srv.Notify(method, params)
	}
	if t := b.tasks.Load(); t != nil {
		t.notified(method, params)
	}
	if b.cfg.OnNotification != nil {
		b.cfg.OnNotification(method, params)
	}
}

// watch ends the bridge when the upstream is lost.
func (b *Bridge) watch(ctx context.Context) {
	defer b.wg.Done()
	select {
	case <-b.up.Done():
		b.stop(b.up.Err())
	case <-ctx.Done():
	}
}

// pingLoop declares the server lost after PingFailures consecutive failed pings. A
// JSON-RPC error answer still proves the server is there.
func (b *Bridge) pingLoop(ctx context.Context) {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.PingInterval)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		err := b.Check(ctx)
		var rpcErr *rpc.RPCError
		if err == nil || errors.As(err, &rpcErr) {
			failures = 0
			continue
		}
		if ctx.Err() != nil {
			return
		}
		failures++
		b.logger.Warn("ping failed", "failures", failures, "err", err)
		if failures >= b.cfg.PingFailures {
			b.stop(fmt.Errorf("%w: %d pings failed, last: %v", rpc.ErrServerLost, failures, err))
			return
		}
	}
}

// Check pings the server once, for real.
func (b *Bridge) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.PingTimeout)
	defer cancel()
	return Check(ctx, b.up)
}

// stop records why the bridge ended (first reason wins) and closes Done.
func (b *Bridge) stop(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	b.err = err
	close(b.done)
}

// Done is closed when the bridge stops serving on its own (server lost, expired,
// unauthorized) or is closed.
func (b *Bridge) Done() <-chan struct{} { return b.done }

// Err says why Done is closed: it wraps ErrServerLost, ErrExpired, ErrUnauthorized, or
// ErrUpstreamClosed after Close.
func (b *Bridge) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

// Close stops serving, removes the bridge's own socket, and closes the upstream without
// ending the MCP session.
func (b *Bridge) Close(ctx context.Context) error { return b.CloseWith(ctx, CloseOptions{}) }

// CloseWith is Close with options: EndSession also asks an HTTP server to forget the MCP
// session (for `close`; a restart leaves it to expire).
func (b *Bridge) CloseWith(ctx context.Context, opts CloseOptions) error {
	b.closeOnce.Do(func() {
		b.stop(rpc.ErrUpstreamClosed)
		if b.cancel != nil {
			b.cancel()
		}
		var errs []error
		if srv := b.srv.Load(); srv != nil {
			errs = append(errs, srv.Close())
		}
		if b.up != nil {
			errs = append(errs, b.up.Close(ctx, opts))
		}
		b.wg.Wait()
		if t := b.tasks.Load(); t != nil {
			t.wait()
		}
		b.closeErr = errors.Join(errs...)
	})
	return b.closeErr
}

// SocketPath is the socket the bridge listens on (after the sun_path fallback).
func (b *Bridge) SocketPath() string {
	if srv := b.srv.Load(); srv != nil {
		return srv.Path()
	}
	return rpc.SocketPath(b.cfg.SocketPath)
}

// InitializeResult is the server's initialize result, verbatim.
func (b *Bridge) InitializeResult() json.RawMessage { return b.init }

// ServerName is serverInfo.name from the initialize result.
func (b *Bridge) ServerName() string { return b.info.ServerInfo.Name }

// ServerVersion is serverInfo.version from the initialize result.
func (b *Bridge) ServerVersion() string { return b.info.ServerInfo.Version }

// ProtocolVersion is the protocol version the server chose.
func (b *Bridge) ProtocolVersion() string { return b.info.ProtocolVersion }

// MCPSessionID is the Streamable HTTP session id ("" for stdio and SSE).
func (b *Bridge) MCPSessionID() string {
	if b.up == nil {
		return ""
	}
	return b.up.SessionID()
}

// FollowTask makes the bridge follow a task of the session created before it (by an
// earlier generation, as the log says) until it finishes or is found lost. No-op without
// Config.OnTask or before Open. lostWhy is why the task may be gone, should the server
// not know it.
func (b *Bridge) FollowTask(id, tool, status, lostWhy string) {
	if t := b.tasks.Load(); t != nil {
		t.Follow(id, tool, status, lostWhy)
	}
}

// Upstream returns the bridge's upstream connection (nil before Open).
func (b *Bridge) Upstream() Upstream { return b.up }
