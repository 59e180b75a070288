package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
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

// Check is a real liveness check: a ping request that goes to the server and back (on
// 2026-07-28, which removed ping, the upstream sends server/discover instead). mcp-go's
// client.Ping sends nothing on 2026-07-28 connections, so it is not used.
func Check(ctx context.Context, u Upstream) error {
	_, err := u.Call(ctx, "ping", nil)
	return err
}

// Defaults for the handshake.
const (
	// DefaultStdioProtocol is the revision a stdio server is first asked for: the stateless
	// 2026-07-28 core, probed with server/discover (bounded by DefaultStdioDiscoverTimeout),
	// with the initialize handshake as the fallback.
	DefaultStdioProtocol = mcp.LATEST_PROTOCOL_VERSION
	// DefaultHTTPProtocol is the revision a Streamable HTTP server is first asked for.
	DefaultHTTPProtocol = mcp.LATEST_PROTOCOL_VERSION
	// DefaultSSEProtocol is the revision asked of a legacy HTTP+SSE server: that transport
	// predates the stateless core, so it stays on the initialize handshake.
	DefaultSSEProtocol = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	// DefaultStdioDiscoverTimeout bounds the server/discover probe on stdio, where a server
	// predating 2026-07-28 may ignore the unknown method instead of answering -32601.
	// (mcp-go's client waits 5 s.) Only a session's first connect is bounded by it: later
	// generations start from the revision that worked (Config.KnownProtocol): a legacy one
	// skips the probe, a modern one is waited for (Bridge.discoverTimeout).
	DefaultStdioDiscoverTimeout = 2 * time.Second
	// DefaultHTTPDiscoverTimeout bounds the probe over HTTP, where every server answers.
	DefaultHTTPDiscoverTimeout = 10 * time.Second
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
//
// Protocol 2026-07-28 is spoken here too, with mcp-go's exported helpers (mcp.MetaKey*,
// mcp.StandardHeaders, mcp.GenerateParamHeaders, mcp.ValidateParamHeaderAnnotations,
// mcp.NegotiateMutuallySupportedVersion, JSONRPCErrorDetails.AsError) and the transports'
// per-request headers, rather than through client.Client. Why: client.Client's request
// path (sendRequest, applyRequestMeta, applyStandardHeaders, its tool cache) is unexported,
// so it could only do the handshake, and the bridge would still add _meta and headers to
// every forwarded request itself; its Initialize returns a typed InitializeResult where
// the bridge serves and caches the server's answer verbatim; it refuses the modern core
// on a transport with continuous listening, which legacy servers need for the GET stream;
// and its request ids would collide on stdio with ours after a probe it gave up on. The
// negotiation itself follows client.negotiateModern step by step (see discover). Multi
// round-trip requests (input_required) are completed inside Call (mrtr.go), and
// subscriptions/listen is held open for the notifications outside requests (listen.go).
type rawUpstream struct {
	tr       transport.Interface
	logger   *slog.Logger
	protocol string // the revision to start with (modern: probe; legacy: initialize)
	info     ClientInfo
	// discoverTimeout bounds the server/discover probe (<0: unbounded).
	discoverTimeout time.Duration
	// http is set for Streamable HTTP: the standard headers go on every POST and tools
	// with invalid x-mcp-header declarations are left out of tools/list.
	http bool
	// version is the negotiated revision. Initialize sets it before any other request.
	version string
	// asks is the policy for server asks (SetAsks; nil: the zero policy). The client
	// capabilities declared come from it (clientCapabilities).
	asks atomic.Pointer[AskPolicy]
	// answer answers the input requests of 2026-07-28 input_required rounds (nil: the
	// bridge's defaults, see answerInputs).
	answer AnswerInputFunc
	// askers are the calls in flight whose socket clients answer asks (askroute.go); set
	// by the Server in front of this upstream.
	askers atomic.Pointer[askers]
	// raw keeps the asks' params as the server wrote them (askorder.go).
	raw *rawAsks
	// logLevel is the level logging/setLevel asked for: 2026-07-28 removed that method and
	// carries the level in each request's _meta instead.
	logLevel atomic.Pointer[string]

	toolsMu sync.Mutex
	tools   map[string]mcp.Tool // tools/list definitions, for Mcp-Param-* mirroring
	// resume, when set, is the cached initialize result of an HTTP session being resumed:
	// Initialize checks the session with a ping instead of a new handshake.
	resume json.RawMessage

	nextID atomic.Int64
	notify atomic.Pointer[func(string, json.RawMessage)]
	// listen is the subscriptions/listen state of a 2026-07-28 connection (nil before and
	// on older revisions).
	listen atomic.Pointer[listener]
	// listening runs whenever the server acknowledges a subscriptions/listen stream (see
	// onListening).
	listening atomic.Pointer[func()]

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
	u := &rawUpstream{tr: tr, logger: logger, protocol: protocol, info: info, done: make(chan struct{}),
		discoverTimeout: DefaultHTTPDiscoverTimeout, raw: &rawAsks{}}
	_, u.http = tr.(transport.HTTPConnection)
	tr.SetNotificationHandler(u.handleNotification)
	if bi, ok := tr.(transport.BidirectionalInterface); ok {
		bi.SetRequestHandler(u.handleServerRequest)
	}
	return u
}

// validateSSEProtocol refuses revisions the legacy HTTP+SSE transport cannot carry.
func validateSSEProtocol(v string) error {
	if mcp.IsModernProtocol(v) {
		return fmt.Errorf("%w: %s is not served over the legacy HTTP+SSE transport; use %s or older",
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
	params, err := json.Marshal(n.Params)
	if err != nil {
		u.logger.Warn("undecodable server notification", "method", n.Method, "err", err)
		return
	}
	if n.Method == mcp.MethodNotificationSubscriptionsAcknowledged {
		u.acknowledged(params)
		return
	}
	fn := u.notify.Load()
	if fn == nil || *fn == nil {
		return
	}
	(*fn)(n.Method, params)
}

// handleServerRequest answers requests the server sends to the client: ping, and the asks
// (elicitation, roots, sampling) by the session's policy (asks.go); the rest get "method
// not found".
func (u *rawUpstream) handleServerRequest(ctx context.Context, req transport.JSONRPCRequest) (*transport.JSONRPCResponse, error) {
	if req.Method == string(mcp.MethodPing) {
		return &transport.JSONRPCResponse{JSONRPC: mcp.JSONRPC_VERSION, ID: req.ID, Result: json.RawMessage("{}")}, nil
	}
	if resp, ok := u.answerServerRequest(ctx, req); ok {
		return resp, nil
	}
	return transport.NewJSONRPCErrorResponse(req.ID, mcp.METHOD_NOT_FOUND, "the bridge does not handle "+req.Method, nil), nil
}

// errLostOnProbe marks a server lost while it was being probed with server/discover: a stdio
// server that dies on the unknown method is started again with the initialize handshake.
var errLostOnProbe = errors.New("server lost on the server/discover probe")

// Initialize negotiates the newest revision both sides support. When the revision to
// start with is 2026-07-28 or later it probes with server/discover (see discover), and
// falls back to initialize, at the newest legacy revision the server named or else
// 2025-11-25, when the server does not speak the stateless core.
func (u *rawUpstream) Initialize(ctx context.Context) (json.RawMessage, error) {
	if u.resume != nil {
		var r struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if err := json.Unmarshal(u.resume, &r); err != nil {
			return nil, fmt.Errorf("resume: cached initialize result: %w", err)
		}
		u.setVersion(r.ProtocolVersion)
		if err := Check(ctx, u); err != nil {
			return nil, fmt.Errorf("resume session %s: %w", u.SessionID(), err)
		}
		if u.http && !mcp.IsModernProtocol(r.ProtocolVersion) {
			if err := u.replayInitialize(ctx); err != nil {
				return nil, fmt.Errorf("resume session %s: %w", u.SessionID(), err)
			}
		}
		return u.resume, nil
	}
	legacy := u.protocol
	if mcp.IsModernProtocol(u.protocol) {
		result, fallback, err := u.discover(ctx, u.protocol)
		if err != nil {
			return nil, err
		}
		if result != nil {
			u.startListening(result)
			return result, nil
		}
		legacy = fallback
	}
	return u.initialize(ctx, legacy)
}

// setVersion records the negotiated revision; HTTP transports send it as
// MCP-Protocol-Version.
func (u *rawUpstream) setVersion(v string) {
	u.version = v
	if hc, ok := u.tr.(transport.HTTPConnection); ok {
		hc.SetProtocolVersion(v)
	}
}

func (u *rawUpstream) modern() bool { return mcp.IsModernProtocol(u.version) }

// discover probes with server/discover at version, as mcp-go's client.negotiateModern
// does: a server that rejects the version (-32022, over HTTP also with a 400) but names
// the ones it supports is asked again, once, at the newest modern one both support; a
// server that names only legacy revisions, or
// fails the probe any other way (method not found, an HTTP error, no answer within
// discoverTimeout), is not modern, and the returned fallback is the revision to ask for
// in initialize. err is set only when the probe cannot be followed by initialize: the
// caller gave up, or the server is lost or refuses us.
func (u *rawUpstream) discover(ctx context.Context, version string) (result json.RawMessage, fallback string, err error) {
	fallback = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	for attempt := 0; attempt < 2; attempt++ {
		// The version travels in _meta and, over HTTP, in MCP-Protocol-Version; both
		// must agree, so the transport learns it before the probe goes out.
		u.setVersion(version)
		res, perr := u.probe(ctx)
		if perr == nil {
			var d struct {
				SupportedVersions []string `json:"supportedVersions"`
			}
			_ = json.Unmarshal(res, &d)
			if len(d.SupportedVersions) > 0 && !slices.Contains(d.SupportedVersions, version) {
				perr = mcp.UnsupportedProtocolVersionError{Version: version, Supported: d.SupportedVersions}
			} else {
				init, cerr := initializeFromDiscover(version, res)
				if cerr == nil {
					return init, "", nil
				}
				perr = cerr
			}
		}
		if lost := u.Err(); lost != nil {
			if errors.Is(lost, rpc.ErrServerLost) {
				return nil, "", fmt.Errorf("%w: %w", errLostOnProbe, lost)
			}
			return nil, "", lost
		}
		if ctx.Err() != nil {
			return nil, "", ctx.Err()
		}
		var unsupported mcp.UnsupportedProtocolVersionError
		if errors.As(perr, &unsupported) && len(unsupported.Supported) > 0 {
			next := mcp.NegotiateMutuallySupportedVersion(unsupported.Supported)
			if mcp.IsModernProtocol(next) && attempt == 0 {
				// Retried once, even at the version just asked for when the server names
				// it among its supported ones: what it rejected may have been the way it
				// was asked (a POST without the header, an intermediary's rewrite), and
				// the spec's rule is to retry with a version from the list.
				version = next
				continue
			}
			if next != "" && !mcp.IsModernProtocol(next) {
				fallback = next
			}
		}
		u.logger.Debug("server/discover failed: using the initialize handshake", "asked", version, "err", perr)
		break
	}
	u.setVersion("")
	return nil, fallback, nil
}

// probe sends one server/discover, bounded by discoverTimeout, straight to the transport:
// its failures say only that the server is not modern (a 404 over HTTP is a modern
// server's "method not found", not an expired session).
func (u *rawUpstream) probe(ctx context.Context) (json.RawMessage, error) {
	if u.discoverTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, u.discoverTimeout)
		defer cancel()
	}
	method := string(mcp.MethodServerDiscover)
	params, _ := u.withMeta(nil)
	req := transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: mcp.NewRequestId(u.nextID.Add(1)),
		Method: method, Params: params, Header: u.standardHeaders(method, params)}
	resp, err := u.tr.SendRequest(ctx, req)
	if err != nil {
		if !u.http && ctx.Err() == nil {
			// stdio: the pipe broke; classify waits for the exit watcher to say why.
			return nil, u.classify(err)
		}
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error.AsError()
	}
	return resp.Result, nil
}

// initializeFromDiscover renders a server/discover result in the shape of an initialize
// result, so that the socket's initialize answer, bridge_ready and `mcpctl @s` look the
// same in both eras. Values are copied verbatim.
func initializeFromDiscover(version string, raw json.RawMessage) (json.RawMessage, error) {
	var d struct {
		Capabilities json.RawMessage            `json:"capabilities"`
		Instructions json.RawMessage            `json:"instructions"`
		Meta         map[string]json.RawMessage `json:"_meta"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("server/discover: undecodable result: %w", err)
	}
	out := map[string]json.RawMessage{}
	out["protocolVersion"], _ = json.Marshal(version)
	out["capabilities"] = json.RawMessage("{}")
	if len(d.Capabilities) > 0 {
		out["capabilities"] = d.Capabilities
	}
	out["serverInfo"] = json.RawMessage(`{"name":"","version":""}`)
	if info, ok := d.Meta[mcp.MetaKeyServerInfo]; ok {
		out["serverInfo"] = info
	}
	if len(d.Instructions) > 0 {
		out["instructions"] = d.Instructions
	}
	return json.Marshal(out)
}

// initialize performs the handshake of the revisions before 2026-07-28.
func (u *rawUpstream) initialize(ctx context.Context, version string) (json.RawMessage, error) {
	params, err := json.Marshal(struct {
		ProtocolVersion string                 `json:"protocolVersion"`
		Capabilities    mcp.ClientCapabilities `json:"capabilities"`
		ClientInfo      ClientInfo             `json:"clientInfo"`
	}{ProtocolVersion: version, Capabilities: u.clientCapabilities(), ClientInfo: u.info})
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
	if mcp.IsModernProtocol(r.ProtocolVersion) {
		return nil, fmt.Errorf("initialize: %w: the server chose %s, which has no initialize handshake",
			rpc.ErrUnsupportedProtocol, r.ProtocolVersion)
	}
	u.setVersion(r.ProtocolVersion)
	if err := u.Notify(ctx, string(mcp.MethodNotificationInitialized), nil); err != nil {
		return nil, fmt.Errorf("initialize: notifications/initialized: %w", err)
	}
	return result, nil
}

// withMeta adds the per-request metadata of 2026-07-28 (protocol version, client info,
// client capabilities, and the log level when one was set) to params. Params that are not
// a JSON object cannot carry _meta and are left alone.
func (u *rawUpstream) withMeta(params json.RawMessage) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &fields); err != nil {
			return params, nil
		}
	}
	meta := map[string]any{}
	if raw, ok := fields["_meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("_meta must be an object: %w", err)
		}
	}
	meta[mcp.MetaKeyProtocolVersion] = u.version
	meta[mcp.MetaKeyClientInfo] = u.info
	meta[mcp.MetaKeyClientCapabilities] = u.clientCapabilities()
	if level := u.logLevel.Load(); level != nil {
		meta[mcp.MetaKeyLogLevel] = *level
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	fields["_meta"] = b
	return json.Marshal(fields)
}

// standardHeaders are the headers a 2026-07-28 POST carries besides MCP-Protocol-Version
// (which the transport adds): Mcp-Method, Mcp-Name, and for tools/call the Mcp-Param-*
// mirrors of the arguments the tool's schema declares with x-mcp-header. Nil for stdio and
// legacy revisions.
func (u *rawUpstream) standardHeaders(method string, params json.RawMessage) http.Header {
	if !u.http || !u.modern() {
		return nil
	}
	h := http.Header{}
	for k, v := range mcp.StandardHeaders(u.version, mcp.MCPMethod(method), params) {
		h.Set(k, v)
	}
	if mcp.MCPMethod(method) == mcp.MethodToolsCall {
		if tool, ok := u.toolFor(params); ok {
			for k, v := range mcp.GenerateParamHeaders(&tool, params) {
				h.Set(k, v)
			}
		}
	}
	return h
}

func (u *rawUpstream) Call(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	result, err := u.send(ctx, method, params)
	if err != nil || !u.modern() {
		return result, err
	}
	if method == string(mcp.MethodToolsList) {
		return u.learnTools(ctx, result), nil
	}
	return u.complete(ctx, method, params, result)
}

// send is one request and its answer: on 2026-07-28 with _meta and the standard headers.
func (u *rawUpstream) send(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
	if err := u.Err(); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	modern := u.modern()
	if modern && method == string(mcp.MethodSetLogLevel) {
		return u.setLogLevel(params)
	}
	if modern && (method == string(mcp.MethodResourcesSubscribe) || method == string(mcp.MethodResourcesUnsubscribe)) {
		return u.resourceSubscription(method, params)
	}
	if modern && method == string(mcp.MethodPing) {
		// 2026-07-28 removed ping; server/discover, which every modern server serves, is
		// the round trip that proves the server is there.
		if _, err := u.send(ctx, string(mcp.MethodServerDiscover), nil); err != nil {
			return nil, err
		}
		return json.RawMessage("{}"), nil
	}
	if modern {
		var err error
		var tasks bool
		params, tasks = modernTaskParams(method, params)
		if params, err = u.withMeta(params); err != nil {
			return nil, &rpc.RPCError{Code: mcp.INVALID_PARAMS, Message: method + ": " + err.Error()}
		}
		if tasks {
			params = declareTasksExtension(params)
		}
	}
	id := mcp.NewRequestId(u.nextID.Add(1))
	req := transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Method: method,
		Header: u.standardHeaders(method, params)}
	if modern && u.http && isTasksMethod(method) {
		// The Tasks extension routes tasks/* by the task id (Mcp-Name), so that an
		// intermediary reaches the server instance holding the task.
		if id := taskIDOf(params); id != "" {
			if req.Header == nil {
				req.Header = http.Header{}
			}
			req.Header.Set(mcp.HeaderName, id)
		}
	}
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
		if modern && u.http && errors.Is(err, transport.ErrSessionTerminated) {
			// 2026-07-28 has no sessions: a 404 is the server's "method not found".
			return nil, &rpc.RPCError{Code: mcp.METHOD_NOT_FOUND, Message: "method not found: " + method + " (HTTP 404)"}
		}
		return nil, u.classify(err)
	}
	if resp.Error != nil {
		if lost := u.Err(); errors.Is(lost, rpc.ErrExpired) || errors.Is(lost, rpc.ErrUnauthorized) {
			// A 400 "unknown session" reaches us as a JSON-RPC error body, but it is the
			// transport's answer (the watch marked the session expired), not the server's
			// answer to this request: report it like the 404 case. Likewise a 403
			// insufficient_scope whose body mcp-go read as an error: the watch marked the
			// upstream unauthorized, and the caller needs that (exit 4, the login hint).
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

// setLogLevel answers logging/setLevel on 2026-07-28, which removed the method: the level
// is recorded and goes in the _meta of every later request.
func (u *rawUpstream) setLogLevel(params json.RawMessage) (json.RawMessage, error) {
	var p struct {
		Level string `json:"level"`
	}
	if err := json.Unmarshal(params, &p); err != nil || p.Level == "" {
		return nil, &rpc.RPCError{Code: mcp.INVALID_PARAMS, Message: "logging/setLevel: params need a level"}
	}
	u.logLevel.Store(&p.Level)
	return json.RawMessage("{}"), nil
}

// learnTools remembers the tool definitions of a tools/list page, for Mcp-Param-*
// mirroring. On 2026-07-28 over HTTP a tool whose x-mcp-header declarations are invalid is
// left out of the page with a warning (the spec requires it, so that one bad definition
// does not make the others unusable); the page is otherwise passed on verbatim.
func (u *rawUpstream) learnTools(ctx context.Context, result json.RawMessage) json.RawMessage {
	if !u.modern() || !u.http {
		return result
	}
	var page map[string]json.RawMessage
	if err := json.Unmarshal(result, &page); err != nil {
		return result
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(page["tools"], &entries); err != nil {
		return result
	}
	kept := make([]json.RawMessage, 0, len(entries))
	learned := map[string]mcp.Tool{}
	var dropped []string
	for _, raw := range entries {
		var def struct {
			Name        string          `json:"name"`
			InputSchema json.RawMessage `json:"inputSchema"`
		}
		if err := json.Unmarshal(raw, &def); err != nil {
			kept = append(kept, raw)
			continue
		}
		tool := mcp.Tool{Name: def.Name, RawInputSchema: def.InputSchema}
		if err := mcp.ValidateParamHeaderAnnotations(&tool); err != nil {
			u.logger.WarnContext(ctx, "tool left out: invalid x-mcp-header declaration", "tool", def.Name, "err", err)
			dropped = append(dropped, def.Name)
			continue
		}
		learned[def.Name] = tool
		kept = append(kept, raw)
	}
	u.toolsMu.Lock()
	if u.tools == nil {
		u.tools = map[string]mcp.Tool{}
	}
	for _, name := range dropped {
		delete(u.tools, name)
	}
	maps.Copy(u.tools, learned)
	u.toolsMu.Unlock()
	if len(dropped) == 0 {
		return result
	}
	page["tools"], _ = json.Marshal(kept)
	out, err := json.Marshal(page)
	if err != nil {
		return result
	}
	return out
}

// toolFor returns the remembered definition of the tool a tools/call names.
func (u *rawUpstream) toolFor(params json.RawMessage) (mcp.Tool, bool) {
	var call struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(params, &call); err != nil || call.Name == "" {
		return mcp.Tool{}, false
	}
	u.toolsMu.Lock()
	defer u.toolsMu.Unlock()
	tool, ok := u.tools[call.Name]
	return tool, ok
}

// cancel tells the server that the caller gave up on request id. Best effort, off the
// caller's path.
func (u *rawUpstream) cancel(id mcp.RequestId, ctx context.Context) {
	if u.http && u.modern() {
		// On 2026-07-28 over HTTP, closing the request's stream (the transport did, when
		// ctx ended) is the cancellation.
		return
	}
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
	if u.http && u.modern() {
		// mcp-go posts a notification without the standard headers; the HTTP layer under
		// it adds what the request's context names (watchTransport).
		ctx = withStandardHeaders(ctx, mcp.StandardHeaders(u.version, mcp.MCPMethod(method), params))
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
		u.stopListening(ctx)
	})
	return u.closeErr
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}

// replayInitialize lets mcp-go's Streamable HTTP transport take a resumed session as
// initialized. It opens the standalone GET stream (the server's notifications and requests
// outside calls) only after an initialize it sent itself, and a resumed session sends none:
// without this, a session resumed after a crash never heard its server again outside calls.
// The initialize is answered by the bridge's own HTTP layer from the cached result, under
// the session's id; it never reaches the server.
func (u *rawUpstream) replayInitialize(ctx context.Context) error {
	id := mcp.NewRequestId(u.nextID.Add(1))
	req := transport.JSONRPCRequest{JSONRPC: mcp.JSONRPC_VERSION, ID: id, Method: string(mcp.MethodInitialize),
		Params: map[string]any{"protocolVersion": u.version}}
	resp, err := u.tr.SendRequest(withLocalInitialize(ctx, u.SessionID(), u.resume), req)
	if err != nil {
		return err
	}
	if resp.Error != nil {
		return fmt.Errorf("replayed initialize: %s", resp.Error.Message)
	}
	return nil
}
