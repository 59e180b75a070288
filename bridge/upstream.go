package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// Upstream is one MCP client connection to a server, as the bridge uses it: raw JSON-RPC in
// and out, so any method can be forwarded without a typed struct in between.
type Upstream interface {
	// Initialize performs the handshake once and returns the server's initialize result
	// verbatim.
	Initialize(ctx context.Context) (json.RawMessage, error)
	// Call sends a raw JSON-RPC request under a fresh id and returns the raw result. A
	// JSON-RPC error comes back as *RPCError. When ctx ends first, notifications/cancelled
	// is sent for the request and ctx's error returned.
	Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
	// Notify sends a notification to the server.
	Notify(ctx context.Context, method string, params json.RawMessage) error
	// OnNotification sets the one handler for the server's notifications. Set it before
	// Initialize to see all of them.
	OnNotification(func(method string, params json.RawMessage))
	// Done is closed when the server is lost or the upstream is closed.
	Done() <-chan struct{}
	// Err says why Done is closed: it wraps ErrServerLost, ErrExpired, ErrUnauthorized or
	// ErrUpstreamClosed. Nil while Done is open.
	Err() error
	// SessionID is the Streamable HTTP Mcp-Session-Id ("" for stdio and SSE).
	SessionID() string
	// Close ends the connection: stdio terminates the server's process group; HTTP sends
	// DELETE for the MCP session only when opts.EndSession is set.
	Close(ctx context.Context, opts CloseOptions) error
}

// CloseOptions says how to close an Upstream.
type CloseOptions struct {
	// EndSession asks a Streamable HTTP server to forget the MCP session (DELETE). Without
	// it the session is left for the server to expire, or for a successor to resume.
	EndSession bool
}

// Check is a real liveness check: a ping request that goes to the server and back. (mcp-go's
// client.Ping sends nothing on protocol 2026-07-28 connections, so it is not used.)
func Check(ctx context.Context, u Upstream) error {
	_, err := u.Call(ctx, "ping", nil)
	return err
}

// Defaults for the handshake.
const (
	// DefaultStdioProtocol is the protocol version a stdio server is asked for: the newer
	// stateless revision costs a 5 s probe and kills some older servers.
	DefaultStdioProtocol = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	// DefaultHTTPProtocol is the version asked of HTTP and SSE servers.
	DefaultHTTPProtocol = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	// cancelTimeout bounds the notifications/cancelled sent after a caller gave up.
	cancelTimeout = 5 * time.Second
)

// ClientInfo is how the bridge introduces itself in initialize.
type ClientInfo struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// rawUpstream implements Upstream over an mcp-go transport. The transport layer already
// takes raw params (JSONRPCRequest.Params is any) and returns raw results, so nothing goes
// through mcp-go's typed client.
type rawUpstream struct {
	tr       transport.Interface
	logger   *slog.Logger
	protocol string // asked for in initialize
	info     ClientInfo
	// resume, when set, is the cached initialize result of an HTTP session being resumed:
	// Initialize checks the session with a ping instead of a new handshake.
	resume json.RawMessage

	nextID atomic.Int64
	notify atomic.Pointer[func(string, json.RawMessage)]

	mu   sync.Mutex
	err  error
	done chan struct{}

	// stop ends the transport's background goroutines (the HTTP GET stream, SSE stream).
	stop context.CancelFunc
	// closeFn does the transport-specific part of Close.
	closeFn   func(ctx context.Context, opts CloseOptions) error
	closeOnce sync.Once
	closeErr  error
}

func newRawUpstream(tr transport.Interface, protocol string, info ClientInfo, logger *slog.Logger) *rawUpstream {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if info.Name == "" {
		info.Name = "mcpctl"
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	u := &rawUpstream{tr: tr, logger: logger, protocol: protocol, info: info, done: make(chan struct{})}
	tr.SetNotificationHandler(u.handleNotification)
	if bi, ok := tr.(transport.BidirectionalInterface); ok {
		bi.SetRequestHandler(u.handleServerRequest)
	}
	return u
}

// validateProtocol refuses versions the raw path cannot speak.
func validateProtocol(v string) error {
	if mcp.IsModernProtocol(v) {
		return fmt.Errorf("%w: %s needs per-request metadata the bridge does not add; use %s or older",
			rpc.ErrUnsupportedProtocol, v, mcp.LATEST_LEGACY_PROTOCOL_VERSION)
	}
	return nil
}

// lose records why the upstream is gone (the first reason wins) and closes Done.
func (u *rawUpstream) lose(err error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.err != nil {
		return
	}
	u.err = err
	close(u.done)
}

func (u *rawUpstream) Done() <-chan struct{} { return u.done }

func (u *rawUpstream) Err() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.err
}

func (u *rawUpstream) SessionID() string { return u.tr.GetSessionId() }

func (u *rawUpstream) OnNotification(fn func(method string, params json.RawMessage)) {
	u.notify.Store(&fn)
}

func (u *rawUpstream) handleNotification(n mcp.JSONRPCNotification) {
	fn := u.notify.Load()
	if fn == nil || *fn == nil {
		return
	}
	params, err := json.Marshal(n.Params)
	if err != nil {
		u.logger.Warn("undecodable server notification", "method", n.Method, "err", err)
		return
	}
	(*fn)(n.Method, params)
}

// handleServerRequest answers requests the server sends to the client. The bridge declares
// no client capabilities, so only ping is answered; the rest get "method not found".
func (u *rawUpstream) handleServerRequest(_ context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	if req.Method == string(mcp.MethodPing) {
		return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: req.ID, Result: json.RawMessage("{}")}, nil
	}
	return transport.NewJSONRPCErrorResponse(req.ID, mcp.METHOD_NOT_FOUND, "the bridge does not handle "+req.Method, nil), nil
}

func (u *rawUpstream) Initialize(ctx context.Context) (json.RawMessage, error) {
	if u.resume != nil {
		var r struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if err := json.Unmarshal(u.resume, &r); err != nil {
			return nil, fmt.Errorf("resume: cached initialize result: %w", err)
		}
		if hc, ok := u.tr.(transport.HTTPConnection); ok {
			hc.SetProtocolVersion(r.ProtocolVersion)
		}
		if err := Check(ctx, u); err != nil {
			return nil, fmt.Errorf("resume session %s: %w", u.SessionID(), err)
		}
		return u.resume, nil
	}
	params, err := json.Marshal(struct {
		ProtocolVersion string     `json:"protocolVersion"`
		Capabilities    struct{}   `json:"capabilities"`
		ClientInfo      ClientInfo `json:"clientInfo"`
	}{ProtocolVersion: u.protocol, ClientInfo: u.info})
	if err != nil {
		return nil, err
	}
	result, err := u.Call(ctx, string(mcp.MethodInitialize), params)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	var r struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(result, &r); err != nil || r.ProtocolVersion == "" {
		return nil, fmt.Errorf("initialize: result without a protocol version: %s", truncate(result, 200))
	}
	if err := validateProtocol(r.ProtocolVersion); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if hc, ok := u.tr.(transport.HTTPConnection); ok {
		hc.SetProtocolVersion(r.ProtocolVersion)
	}
	if err := u.Notify(ctx, string(mcp.MethodNotificationInitialized), nil); err != nil {
		return nil, fmt.Errorf("initialize: notifications/initialized: %w", err)
	}
	return result, nil
}

func (u *rawUpstream) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if err := u.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	id := mcp.NewRequestId(u.nextID.Add(1))
	req := transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Method: method}
	if len(params) > 0 {
		req.Params = params
	}
	resp, err := u.tr.SendRequest(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			if method != string(mcp.MethodInitialize) {
				u.cancel(id, ctx)
			}
			return nil, ctx.Err()
		}
		return nil, u.classify(err)
	}
	if resp.Error != nil {
		if lost := u.Err(); errors.Is(lost, rpc.ErrExpired) {
			// A 400 "unknown session" reaches us as a JSON-RPC error body, but it is the
			// transport's answer (the watch marked the session expired), not the server's
			// answer to this request: report it like the 404 case.
			return nil, lost
		}
		e := &rpc.RPCError{Code: resp.Error.Code, Message: resp.Error.Message}
		if resp.Error.Data != nil {
			e.Data, _ = json.Marshal(resp.Error.Data)
		}
		return nil, e
	}
	if len(resp.Result) == 0 {
		return json.RawMessage("null"), nil
	}
	return resp.Result, nil
}

// cancel tells the server that the caller gave up on request id. Best effort, off the
// caller's path.
func (u *rawUpstream) cancel(id mcp.RequestId, ctx context.Context) {
	reason := context.Cause(ctx).Error()
	go func() {
		ctx, done := context.WithTimeout(context.Background(), cancelTimeout)
		defer done()
		n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{
			Method: string(mcp.MethodNotificationCancelled),
			Params: mcp.NotificationParams{AdditionalFields: map[string]any{"requestId": id, "reason": reason}},
		}}
		if err := u.tr.SendNotification(ctx, n); err != nil {
			u.logger.Debug("notifications/cancelled not sent", "id", id.String(), "err", err)
		}
	}()
}

// classify maps a transport error to the sentinels, marking the upstream lost when the
// error says the server or the session is gone for good.
func (u *rawUpstream) classify(err error) error {
	switch {
	case errors.Is(err, transport.ErrSessionTerminated):
		u.lose(fmt.Errorf("%w: %v", rpc.ErrExpired, err))
	case errors.Is(err, transport.ErrAuthorizationRequired), errors.Is(err, transport.ErrOAuthAuthorizationRequired):
		u.lose(fmt.Errorf("%w: %v", rpc.ErrUnauthorized, err))
	case errors.Is(err, transport.ErrTransportClosed):
		// stdio: the server's stdout ended. The exit watcher records the exit status a
		// moment later; give it that moment so the error names the cause.
		select {
		case <-u.done:
		case <-time.After(100 * time.Millisecond):
			u.lose(fmt.Errorf("%w: %v", rpc.ErrServerLost, err))
		}
	}
	if lost := u.Err(); lost != nil {
		return lost
	}
	return err
}

func (u *rawUpstream) Notify(ctx context.Context, method string, params json.RawMessage) error {
	if err := u.Err(); err != nil {
		return err
	}
	n := mcp.JSONRPCNotification{JSONRPC: mcp.JSONRPC_VERSION, Notification: mcp.Notification{Method: method}}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &n.Params); err != nil {
			return fmt.Errorf("notification %s: params must be an object: %w", method, err)
		}
	}
	if err := u.tr.SendNotification(ctx, n); err != nil {
		return u.classify(err)
	}
	return nil
}

func (u *rawUpstream) Close(ctx context.Context, opts CloseOptions) error {
	u.closeOnce.Do(func() {
		u.lose(rpc.ErrUpstreamClosed)
		if u.closeFn != nil {
			u.closeErr = u.closeFn(ctx, opts)
		} else {
			u.closeErr = u.tr.Close()
		}
		if u.stop != nil {
			u.stop()
		}
	})
	return u.closeErr
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
