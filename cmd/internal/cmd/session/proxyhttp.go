package session

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// The HTTP proxy: the session served as a Streamable HTTP MCP server (the transport of
// MCP 2025-03-26 to 2025-11-25, and the POST-only, sessionless use of it by 2026-07-28
// clients), written on net/http because the mcpctl binary links no MCP library.
//
//	HTTP client ──POST {request}──► proxy ──one Unix connection per call──► bridge
//	            ◄─JSON, or SSE: progress, asks, then the answer─┘
//	            ──POST {response to an ask}──► the connection of the call that asked
//	            ──GET (per MCP session)──► a connection that sent initialize: server notifications
//
// One bridge connection per call is what keeps routing simple and exact: everything the
// bridge sends on it before the answer — progress for the call's token, the asks it routed
// to "the client whose call caused it" — belongs to that call, so it goes on that POST's
// event stream, as the spec wants. The client's capabilities, declared once at initialize,
// go with each call in its _meta (rpc.MetaClientCapabilities), which is how the bridge learns
// of a one-shot client's asks.

const (
	mcpPath = "/mcp"

	headerSessionID = "Mcp-Session-Id"
	headerProtocol  = "MCP-Protocol-Version"

	// firstStatelessProtocol is the first revision whose clients keep no HTTP session.
	firstStatelessProtocol = "2026-07-28"

	// maxHTTPSessions bounds the MCP sessions the proxy keeps for clients that never DELETE
	// theirs; the oldest goes first.
	maxHTTPSessions = 1024

	// shutdownGrace is how long a stopping proxy waits for handlers to finish once their
	// calls are cancelled.
	shutdownGrace = 5 * time.Second
)

type httpProxy struct {
	dial        func(context.Context) (net.Conn, error)
	token       [sha256.Size]byte
	hasToken    bool
	checkOrigin bool // a loopback listener: only loopback Hosts and Origins (DNS rebinding)
	maxBody     int64

	mu        sync.Mutex
	sessions  map[string]*httpSession
	order     []string // session ids, oldest first
	stateless *httpSession
	asks      map[askKey]*bridgeConn
}

// askKey names an ask the bridge put to a client: the MCP session it went to (the client
// answering must be that one) and its JSON-RPC id.
type askKey struct{ session, id string }

type httpSession struct {
	id      string
	caps    json.RawMessage // the client's capabilities, from its initialize
	version string          // the protocol revision the bridge answered initialize with
	ctx     context.Context // ended by DELETE: ends the session's calls and stream
	cancel  context.CancelFunc

	mu       sync.Mutex
	inflight map[string]*bridgeConn // the session's calls by request id
	stream   context.CancelFunc     // ends the session's GET stream
}

// bridgeConn is one connection to the bridge; the call reading it and the client's
// answers to its asks both write to it.
type bridgeConn struct {
	net.Conn
	wmu sync.Mutex
}

func (c *bridgeConn) writeLine(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.Write(b)
	return err
}

func newHTTPProxy(dial func(context.Context) (net.Conn, error), token []byte, loopback bool) *httpProxy {
	p := &httpProxy{
		dial:        dial,
		checkOrigin: loopback,
		maxBody:     rpc.DefaultMaxLine,
		sessions:    map[string]*httpSession{},
		asks:        map[askKey]*bridgeConn{},
	}
	if token != nil {
		p.token, p.hasToken = sha256.Sum256(token), true
	}
	ctx, cancel := context.WithCancel(context.Background())
	p.stateless = &httpSession{ctx: ctx, cancel: cancel, inflight: map[string]*bridgeConn{}}
	return p
}

// serve answers on ln until ctx ends, then cancels what is in flight (each call tells the
// bridge it is cancelled) and stops.
func (p *httpProxy) serve(ctx context.Context, ln net.Listener) error {
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	srv := &http.Server{
		Handler:           p,
		BaseContext:       func(net.Listener) context.Context { return base },
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
	case err := <-errc:
		return &httpProxyError{err}
	}
	cancelBase()
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = srv.Close()
	<-errc
	return nil
}

type httpProxyError struct{ err error }

func (e *httpProxyError) Error() string { return "proxy: serving HTTP: " + e.err.Error() }
func (e *httpProxyError) Unwrap() error { return e.err }

func (p *httpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mcpctl proxy"`)
		httpFail(w, http.StatusUnauthorized, nil, rpc.CodeInvalidRequest, "a valid bearer token is required")
		return
	}
	if p.checkOrigin && !fromThisMachine(r) {
		httpFail(w, http.StatusForbidden, nil, rpc.CodeInvalidRequest, "this proxy listens on loopback: requests from another origin or host name are refused")
		return
	}
	if r.URL.Path != mcpPath {
		httpFail(w, http.StatusNotFound, nil, rpc.CodeInvalidRequest, "the MCP endpoint is "+mcpPath)
		return
	}
	if v := r.Header.Get(headerProtocol); v != "" && !rpc.KnownProtocol(v) {
		httpFail(w, http.StatusBadRequest, nil, rpc.CodeInvalidRequest,
			fmt.Sprintf("unsupported %s %q; this proxy speaks %s", headerProtocol, v, strings.Join(rpc.ProtocolVersions(), ", ")))
		return
	}
	switch r.Method {
	case http.MethodPost:
		p.post(w, r)
	case http.MethodGet:
		p.get(w, r)
	case http.MethodDelete:
		p.delete(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		httpFail(w, http.StatusMethodNotAllowed, nil, rpc.CodeInvalidRequest, r.Method+" is not an MCP transport method")
	}
}

// authorized compares the bearer token in constant time (of digests, so not even the
// token's length leaks).
func (p *httpProxy) authorized(r *http.Request) bool {
	if !p.hasToken {
		return true
	}
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	return subtle.ConstantTimeCompare(got[:], p.token[:]) == 1
}

// fromThisMachine: the Host the client asked for and its Origin, if any, are loopback
// names. A web page that rebinds its own DNS name to 127.0.0.1 sends its name in both.
func fromThisMachine(r *http.Request) bool {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if !isLoopbackName(host) {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && isLoopbackName(u.Hostname())
}

func modernProtocol(r *http.Request) bool {
	v := r.Header.Get(headerProtocol)
	return v != "" && v >= firstStatelessProtocol
}

// session finds the MCP session of a request other than initialize. ok false: the answer
// was written.
func (p *httpProxy) session(w http.ResponseWriter, r *http.Request, id json.RawMessage, method string) (*httpSession, bool) {
	sid := r.Header.Get(headerSessionID)
	if sid == "" {
		if modernProtocol(r) || method == "server/discover" {
			return p.stateless, true
		}
		httpFail(w, http.StatusBadRequest, id, rpc.CodeInvalidRequest, "no "+headerSessionID+" header: send initialize first")
		return nil, false
	}
	p.mu.Lock()
	s := p.sessions[sid]
	p.mu.Unlock()
	if s == nil {
		httpFail(w, http.StatusNotFound, id, rpc.CodeInvalidRequest, "unknown or ended MCP session: send initialize again")
		return nil, false
	}
	return s, true
}

func (p *httpProxy) newSession(initParams, initResult json.RawMessage) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	var params struct {
		Capabilities json.RawMessage `json:"capabilities"`
	}
	var result struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	_ = json.Unmarshal(initParams, &params)
	_ = json.Unmarshal(initResult, &result)
	ctx, cancel := context.WithCancel(context.Background())
	s := &httpSession{id: hex.EncodeToString(b[:]), caps: params.Capabilities, version: result.ProtocolVersion,
		ctx: ctx, cancel: cancel, inflight: map[string]*bridgeConn{}}
	p.mu.Lock()
	p.sessions[s.id] = s
	p.order = append(p.order, s.id)
	var evicted *httpSession
	if len(p.order) > maxHTTPSessions {
		evicted = p.sessions[p.order[0]]
		delete(p.sessions, p.order[0])
		p.order = p.order[1:]
	}
	p.mu.Unlock()
	if evicted != nil {
		evicted.cancel()
	}
	return s.id
}

func (p *httpProxy) endSession(sid string) bool {
	p.mu.Lock()
	s := p.sessions[sid]
	if s != nil {
		delete(p.sessions, sid)
		for i, id := range p.order {
			if id == sid {
				p.order = append(p.order[:i], p.order[i+1:]...)
				break
			}
		}
	}
	p.mu.Unlock()
	if s != nil {
		s.cancel()
	}
	return s != nil
}

func (p *httpProxy) post(w http.ResponseWriter, r *http.Request) {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		httpFail(w, http.StatusUnsupportedMediaType, nil, rpc.CodeInvalidRequest, "a POST carries one JSON-RPC message as application/json")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpFail(w, http.StatusRequestEntityTooLarge, nil, rpc.CodeInvalidRequest, fmt.Sprintf("message longer than %d bytes", p.maxBody))
		}
		return
	}
	body = bytes.TrimSpace(body)
	if len(body) > 0 && body[0] == '[' {
		httpFail(w, http.StatusBadRequest, nil, rpc.CodeInvalidRequest, "JSON-RPC batches are not supported: send one message per POST")
		return
	}
	var m rpc.Message
	if err := json.Unmarshal(body, &m); err != nil {
		httpFail(w, http.StatusBadRequest, nil, rpc.CodeParseError, "not a JSON-RPC message: "+err.Error())
		return
	}
	if m.JSONRPC != "2.0" || (m.Method == "" && m.ID == nil) {
		httpFail(w, http.StatusBadRequest, m.ID, rpc.CodeInvalidRequest, `not a JSON-RPC 2.0 request, notification or response`)
		return
	}
	if m.Method == "initialize" && m.ID != nil {
		p.call(w, r, nil, m)
		return
	}
	s, ok := p.session(w, r, m.ID, m.Method)
	if !ok {
		return
	}
	switch {
	case m.Method == "":
		p.answer(w, s, m)
	case m.ID == nil:
		p.notify(w, r, s, m)
	default:
		p.call(w, r, s, m)
	}
}

// answer hands the client's response to an ask to the call that is waiting for it.
func (p *httpProxy) answer(w http.ResponseWriter, s *httpSession, m rpc.Message) {
	p.mu.Lock()
	bc := p.asks[askKey{s.id, rpc.IDKey(m.ID)}]
	p.mu.Unlock()
	if bc == nil {
		httpFail(w, http.StatusBadRequest, nil, rpc.CodeInvalidRequest, "no request with id "+rpc.IDKey(m.ID)+" is waiting for an answer")
		return
	}
	var line []byte
	if m.Error != nil {
		line = rpc.AppendError(nil, m.ID, m.Error)
	} else {
		line = rpc.AppendResult(nil, m.ID, m.Result)
	}
	_ = bc.writeLine(line)
	w.WriteHeader(http.StatusAccepted)
}

func (p *httpProxy) notify(w http.ResponseWriter, r *http.Request, s *httpSession, m rpc.Message) {
	line := rpc.AppendNotification(nil, m.Method, m.Params)
	switch m.Method {
	case "notifications/initialized": // the bridge initialized its server once, at start
	case "notifications/cancelled":
		var c struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if json.Unmarshal(m.Params, &c) == nil {
			s.mu.Lock()
			bc := s.inflight[rpc.IDKey(c.RequestID)]
			s.mu.Unlock()
			if bc != nil {
				_ = bc.writeLine(line)
			}
		}
	default:
		// A connection of its own, half-closed: the bridge forwards the notification and
		// then closes it.
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		conn, err := p.dial(ctx)
		if err != nil {
			httpFail(w, http.StatusBadGateway, nil, rpc.CodeInternalError, err.Error())
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		if _, err := conn.Write(line); err == nil {
			if uc, ok := conn.(*net.UnixConn); ok {
				_ = uc.CloseWrite()
			}
			_, _ = io.Copy(io.Discard, conn)
		}
	}
	w.WriteHeader(http.StatusAccepted)
}

// call forwards a request on a connection of its own and answers with the bridge's
// answer: as JSON, or as an event stream when the bridge sent progress or asks first.
func (p *httpProxy) call(w http.ResponseWriter, r *http.Request, s *httpSession, m rpc.Message) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	sid := ""
	if s != nil {
		sid = s.id
		defer context.AfterFunc(s.ctx, cancel)()
	}
	stream := accepts(r, "text/event-stream")
	params := m.Params
	if s != nil && stream && len(s.caps) > 0 {
		params = withClientCaps(params, s.caps)
	}
	conn, err := p.dial(ctx)
	if err != nil {
		httpFail(w, http.StatusBadGateway, m.ID, rpc.CodeInternalError, err.Error())
		return
	}
	bc := &bridgeConn{Conn: conn}
	defer conn.Close()
	key := rpc.IDKey(m.ID)
	// Calls of an MCP session are known by id, for the client's notifications/cancelled.
	// Sessionless (2026-07-28) clients share no id space: they cancel by hanging up.
	if s != nil && s != p.stateless {
		s.mu.Lock()
		_, dup := s.inflight[key]
		if !dup {
			s.inflight[key] = bc
		}
		s.mu.Unlock()
		if dup {
			httpFail(w, http.StatusBadRequest, m.ID, rpc.CodeInvalidRequest, "request id "+key+" is already in flight in this session")
			return
		}
		defer func() {
			s.mu.Lock()
			delete(s.inflight, key)
			s.mu.Unlock()
		}()
	}
	var asked []askKey
	defer func() {
		p.mu.Lock()
		for _, k := range asked {
			delete(p.asks, k)
		}
		p.mu.Unlock()
	}()
	if err := bc.writeLine(rpc.AppendRequest(nil, m.ID, m.Method, params)); err != nil {
		httpFail(w, http.StatusBadGateway, m.ID, rpc.CodeInternalError, "the session's bridge: "+err.Error())
		return
	}
	lines := readLines(ctx, conn)
	sse := &sseWriter{w: w}
	for {
		select {
		case <-ctx.Done():
			// The client went away, DELETEd its session, cancelled, or the proxy stops.
			cp, _ := json.Marshal(map[string]any{"requestId": m.ID, "reason": "the HTTP client went away"})
			_ = bc.writeLine(rpc.AppendNotification(nil, "notifications/cancelled", cp))
			return
		case b, ok := <-lines:
			if !ok {
				msg := "the session's bridge closed the connection before it answered"
				if ctx.Err() != nil {
					continue
				}
				if sse.started {
					_ = sse.event(rpc.AppendError(nil, m.ID, &rpc.RPCError{Code: rpc.CodeInternalError, Message: msg}))
				} else {
					httpFail(w, http.StatusBadGateway, m.ID, rpc.CodeInternalError, msg)
				}
				return
			}
			var in rpc.Message
			if json.Unmarshal(b, &in) != nil {
				continue
			}
			switch {
			case in.Method == "" && (rpc.IDKey(in.ID) == key || len(in.ID) == 0 || rpc.IDKey(in.ID) == "null"):
				if rpc.IDKey(in.ID) != key { // an error about the connection (too many of them)
					b = rpc.AppendError(nil, m.ID, in.Error)
				}
				if m.Method == "initialize" && in.Error == nil {
					w.Header().Set(headerSessionID, p.newSession(m.Params, in.Result))
				}
				if sse.started {
					_ = sse.event(b)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, _ = w.Write(b)
				return
			case in.Method != "" && in.ID != nil: // an ask, routed to this call's client
				if !stream {
					_ = bc.writeLine(rpc.AppendError(nil, in.ID, &rpc.RPCError{Code: rpc.CodeInternalError,
						Message: "the HTTP client does not accept an event stream, so it cannot be asked"}))
					continue
				}
				k := askKey{sid, rpc.IDKey(in.ID)}
				p.mu.Lock()
				p.asks[k] = bc
				p.mu.Unlock()
				asked = append(asked, k)
				if sse.event(b) != nil {
					return
				}
			case in.Method != "": // progress, log messages
				if stream && sse.event(b) != nil {
					return
				}
			}
		}
	}
}

// get is the standalone event stream of an MCP session: the server's notifications that
// belong to no call (list changes, resource updates, log messages). Its bridge connection
// sends initialize, which is what makes the bridge send them. A session has one such
// stream at a time; a new GET replaces the old one, so no message goes out twice.
func (p *httpProxy) get(w http.ResponseWriter, r *http.Request) {
	if !accepts(r, "text/event-stream") {
		httpFail(w, http.StatusNotAcceptable, nil, rpc.CodeInvalidRequest, "GET opens an event stream: Accept: text/event-stream")
		return
	}
	if r.Header.Get(headerSessionID) == "" && modernProtocol(r) {
		w.Header().Set("Allow", "POST")
		httpFail(w, http.StatusMethodNotAllowed, nil, rpc.CodeInvalidRequest, "protocol "+r.Header.Get(headerProtocol)+" has no standalone stream")
		return
	}
	s, ok := p.session(w, r, nil, "")
	if !ok {
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	s.mu.Lock()
	if s.stream != nil {
		s.stream()
	}
	s.stream = cancel
	s.mu.Unlock()
	conn, err := p.dial(ctx)
	if err != nil {
		httpFail(w, http.StatusBadGateway, nil, rpc.CodeInternalError, err.Error())
		return
	}
	defer conn.Close()
	init, _ := json.Marshal(map[string]any{"protocolVersion": s.version, "capabilities": map[string]any{},
		"clientInfo": map[string]string{"name": "mcpctl-proxy-stream", "version": "1"}})
	if _, err := conn.Write(rpc.AppendRequest(nil, json.RawMessage(`"stream"`), "initialize", init)); err != nil {
		httpFail(w, http.StatusBadGateway, nil, rpc.CodeInternalError, "the session's bridge: "+err.Error())
		return
	}
	sse := &sseWriter{w: w}
	if sse.start() != nil {
		return
	}
	lines := readLines(ctx, conn)
	for {
		select {
		case <-ctx.Done():
			return
		case b, ok := <-lines:
			if !ok {
				return // the bridge ended: the client reconnects, and reaches the next one
			}
			var in rpc.Message
			if json.Unmarshal(b, &in) != nil || in.Method == "" || in.ID != nil {
				continue
			}
			if sse.event(b) != nil {
				return
			}
		}
	}
}

func (p *httpProxy) delete(w http.ResponseWriter, r *http.Request) {
	sid := r.Header.Get(headerSessionID)
	if sid == "" {
		httpFail(w, http.StatusBadRequest, nil, rpc.CodeInvalidRequest, "DELETE ends an MCP session: it needs the "+headerSessionID+" header")
		return
	}
	if !p.endSession(sid) {
		httpFail(w, http.StatusNotFound, nil, rpc.CodeInvalidRequest, "unknown or ended MCP session")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// readLines reads the bridge's newline-delimited messages until the connection ends or
// ctx does (which closes the connection's reading side by closing the channel's reader).
func readLines(ctx context.Context, conn net.Conn) <-chan []byte {
	ch := make(chan []byte)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(conn)
		sc.Buffer(make([]byte, 0, 64<<10), rpc.DefaultMaxLine+64<<10)
		for sc.Scan() {
			b := append(bytes.Clone(sc.Bytes()), '\n')
			select {
			case ch <- b:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// withClientCaps puts the client's capabilities in the request's _meta, unless it
// declares its own there.
func withClientCaps(params, caps json.RawMessage) json.RawMessage {
	fields := map[string]json.RawMessage{}
	if len(params) > 0 && json.Unmarshal(params, &fields) != nil {
		return params // not an object: leave it to the server to refuse
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := fields["_meta"]; ok && json.Unmarshal(raw, &meta) != nil {
		return params
	}
	if _, ok := meta[rpc.MetaClientCapabilities]; ok {
		return params
	}
	meta[rpc.MetaClientCapabilities] = caps
	b, err := json.Marshal(meta)
	if err != nil {
		return params
	}
	fields["_meta"] = b
	out, err := json.Marshal(fields)
	if err != nil {
		return params
	}
	return out
}

// accepts says whether the request's Accept header takes the media type.
func accepts(r *http.Request, mediaType string) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt == mediaType || mt == "*/*" || mt == strings.Split(mediaType, "/")[0]+"/*" {
			return true
		}
	}
	return false
}

// sseWriter writes a response as an event stream, starting it at the first event.
type sseWriter struct {
	w       http.ResponseWriter
	started bool
}

func (s *sseWriter) start() error {
	if s.started {
		return nil
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	s.w.WriteHeader(http.StatusOK)
	return http.NewResponseController(s.w).Flush()
}

func (s *sseWriter) event(line []byte) error {
	if err := s.start(); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(s.w, "event: message\ndata: %s\n\n", bytes.TrimRight(line, "\n")); err != nil {
		return err
	}
	return http.NewResponseController(s.w).Flush()
}

// httpFail answers with an HTTP error status and a JSON-RPC error body, which is what MCP
// clients show their users.
func httpFail(w http.ResponseWriter, status int, id json.RawMessage, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(rpc.AppendError(nil, id, &rpc.RPCError{Code: code, Message: msg}))
}
