package main

// --protocol-only: a server that speaks one protocol revision, as servers in the wild do.
//
// mcp-go v1.2.1 serves both eras on one server and decides the era per request, from the
// version a request declares in _meta (and over HTTP in MCP-Protocol-Version). It has no
// server option to drop an era: WithStreamableHTTPProtocolVersions only narrows what
// server/discover advertises over HTTP (legacy requests are still served), and the
// OnRequestInitialization hook can refuse a request but only with -32600. So the
// restriction sits in front of the server, on the transport: a filter on stdin over stdio,
// an http.Handler over Streamable HTTP. Refused requests never reach mcp-go.
//
//	2025-11-25  server/discover and subscriptions/listen: -32601 Method not found (over HTTP
//	            a POST whose MCP-Protocol-Version names a revision after 2025-11-25 gets a
//	            plain 400 Bad Request first, as the 2025-11-25 transport requires); any other
//	            request declaring 2026-07-28 in _meta: -32600 (a client that fell back to the
//	            handshake must not keep sending stateless requests). initialize is served.
//	2026-07-28  initialize: -32601 Method not found (the handshake was removed); any other
//	            request without the 2026-07-28 _meta: -32022 unsupported protocol version,
//	            data {supported: ["2026-07-28"], requested}; over HTTP with the statuses
//	            2026-07-28 prescribes (404, 400), GET and DELETE are 405. server/discover
//	            advertises only 2026-07-28. Not with --sse or --expire-after (no such thing
//	            in that revision).
//
// Notifications and responses pass unchanged. The default (no flag) is the server as it
// was: the handshake only, unless --modern.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// The revisions --protocol-only takes.
const (
	legacyOnly = mcp.ProtocolVersion20251125
	modernOnly = mcp.ProtocolVersion20260728
)

// defaultProtocolOnly is --protocol-only's default. The e2e suite sets it when it builds
// the server (go build -ldflags "-X main.defaultProtocolOnly=2026-07-28"), so every
// server it starts speaks that revision without any command line changing.
var defaultProtocolOnly string

// protocolOnly is the one revision the server speaks; "" serves as without the flag.
type protocolOnly string

func (p *protocolOnly) register(fs *flag.FlagSet) {
	fs.StringVar((*string)(p), "protocol-only", defaultProtocolOnly,
		"speak only protocol `revision` "+legacyOnly+" (initialize; server/discover is an unknown method) or "+
			modernOnly+" (server/discover and stateless requests; initialize is refused)")
}

func (p protocolOnly) validate(o options) error {
	switch p {
	case "", legacyOnly:
		return nil
	case modernOnly:
		if o.sseAddr != "" {
			return errors.New("--protocol-only " + modernOnly + ": --sse is a transport of earlier revisions")
		}
		if o.expireAfter > 0 {
			return errors.New("--protocol-only " + modernOnly + ": --expire-after needs sessions, which " + modernOnly + " removed")
		}
		return nil
	}
	return fmt.Errorf("--protocol-only: want %s or %s, got %q", legacyOnly, modernOnly, string(p))
}

// modern reports whether the server must serve server/discover (newTestServer refuses it
// otherwise).
func (p protocolOnly) modern() bool { return p == modernOnly }

// rpcHead is what the filter reads of a message.
type rpcHead struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Params struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	} `json:"params"`
}

func (h rpcHead) request() bool {
	return h.Method != "" && len(h.ID) > 0 && string(h.ID) != "null"
}

func (h rpcHead) metaVersion() string {
	var v string
	_ = json.Unmarshal(h.Params.Meta[mcp.MetaKeyProtocolVersion], &v)
	return v
}

// refusal is the JSON-RPC error a server speaking one revision answers a request with.
type refusal struct {
	code    int
	message string
	data    any
}

// refuse returns how the server refuses the message, or nil when it serves it.
func (p protocolOnly) refuse(h rpcHead) *refusal {
	if !h.request() {
		return nil
	}
	v := h.metaVersion()
	switch p {
	case legacyOnly:
		if h.Method == string(mcp.MethodServerDiscover) || h.Method == string(mcp.MethodSubscriptionsListen) {
			return &refusal{code: mcp.METHOD_NOT_FOUND, message: "Method not found: " + h.Method}
		}
		if mcp.IsModernProtocol(v) {
			return &refusal{code: mcp.INVALID_REQUEST, message: fmt.Sprintf(
				"unsupported protocol version %q: this server speaks %s and earlier, after initialize", v, legacyOnly)}
		}
	case modernOnly:
		if h.Method == string(mcp.MethodInitialize) {
			return &refusal{code: mcp.METHOD_NOT_FOUND, message: "Method not found: initialize (removed in protocol version " + modernOnly + ")"}
		}
		if v != modernOnly {
			e := mcp.UnsupportedProtocolVersionError{Version: v, Supported: []string{modernOnly}}
			return &refusal{code: mcp.UNSUPPORTED_PROTOCOL_VERSION, message: e.Error(),
				data: mcp.UnsupportedProtocolVersionData{Supported: e.Supported, Requested: v}}
		}
	}
	return nil
}

func (r *refusal) response(id json.RawMessage) []byte {
	e := map[string]any{"code": r.code, "message": r.message}
	if r.data != nil {
		e["data"] = r.data
	}
	b, _ := json.Marshal(map[string]any{"jsonrpc": mcp.JSONRPC_VERSION, "id": id, "error": e})
	return b
}

// serveProtocolOnly serves stdio or Streamable HTTP speaking only opts.only.
func serveProtocolOnly(ctx context.Context, ts *testServer, opts options, stdin io.Reader, stdout, stderr io.Writer) error {
	if opts.httpAddr != "" {
		return serveHTTPOnly(ctx, ts, opts, stdout)
	}
	out := &lockedWriter{w: stdout}
	in, inw := io.Pipe()
	go opts.only.filterStdio(stdin, inw, out)
	ss := server.NewStdioServer(ts.mcp)
	ss.SetErrorLogger(log.New(stderr, "mcptestserver: ", log.LstdFlags))
	if opts.only.modern() {
		ss.SetContextFunc(func(ctx context.Context) context.Context {
			return server.WithSupportedProtocolVersions(ctx, []string{modernOnly})
		})
	}
	ts.progressOut = &progressLines{w: out, n: map[string]int{}}
	err := ss.Listen(ctx, in, ts.progressOut)
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

// filterStdio copies stdin's lines to the server, answering refused requests itself.
func (p protocolOnly) filterStdio(stdin io.Reader, server *io.PipeWriter, out io.Writer) {
	br := bufio.NewReader(stdin)
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			var h rpcHead
			if json.Unmarshal(line, &h) == nil {
				if r := p.refuse(h); r != nil {
					_, _ = out.Write(append(r.response(h.ID), '\n'))
					continue
				}
			}
			if _, werr := server.Write(line); werr != nil {
				return
			}
		}
		if err != nil {
			_ = server.CloseWithError(err)
			return
		}
	}
}

// lockedWriter makes the filter's answers and the server's whole-message writes take turns.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func serveHTTPOnly(ctx context.Context, ts *testServer, opts options, stdout io.Writer) error {
	ln, err := net.Listen("tcp", opts.httpAddr)
	if err != nil {
		return err
	}
	hopts := []server.StreamableHTTPOption{server.WithEndpointPath(mcpPath)}
	if opts.only.modern() {
		hopts = append(hopts, server.WithStreamableHTTPProtocolVersions(modernOnly))
	}
	streamable := server.NewStreamableHTTPServer(ts.mcp, hopts...)
	mux := http.NewServeMux()
	mux.Handle(mcpPath, &httpProtocolFilter{only: opts.only, next: streamable})
	guard := &httpGuard{
		next:         mux,
		required:     opts.required,
		query:        opts.query,
		expireAfter:  opts.expireAfter,
		expireStatus: opts.expireStatus,
		posts:        make(map[string]int),
	}
	return serveHTTP(ctx, ln, guard, "http://"+ln.Addr().String()+mcpPath, stdout, func(ctx context.Context) {
		_ = streamable.Shutdown(ctx)
	})
}

// httpProtocolFilter answers what a server speaking one revision refuses over HTTP.
type httpProtocolFilter struct {
	only protocolOnly
	next http.Handler
}

func (f *httpProtocolFilter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodDelete:
		if f.only == modernOnly {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, r.Method+" is not supported in protocol version "+modernOnly, http.StatusMethodNotAllowed)
			return
		}
	case http.MethodPost:
		if v := r.Header.Get(server.HeaderKeyProtocolVersion); f.only == legacyOnly && v != "" &&
			!slices.Contains(mcp.LegacyProtocolVersions(), v) {
			http.Error(w, "Bad Request: Unsupported protocol version: "+v, http.StatusBadRequest)
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, "Bad Request: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var h rpcHead
		if json.Unmarshal(body, &h) == nil {
			if ref := f.only.refuse(h); ref != nil {
				status := http.StatusBadRequest
				if ref.code == mcp.METHOD_NOT_FOUND {
					status = http.StatusNotFound // 2026-07-28's status for -32601
					if f.only == legacyOnly {
						status = http.StatusOK
					}
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				_, _ = w.Write(ref.response(h.ID))
				return
			}
		}
	}
	f.next.ServeHTTP(w, r)
}
