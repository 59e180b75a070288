package bridge

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// seenRequest is one POST as the test server saw it.
type seenRequest struct {
	Header http.Header
	Method string
	Params json.RawMessage
}

// recorder wraps a test server's handler and records every POST.
type recorder struct {
	mu   sync.Mutex
	seen []seenRequest
	// refuseInitialize makes the server one that speaks only 2026-07-28.
	refuseInitialize bool
	// rewriteList, when set, rewrites tools/list responses (to serve what mcp-go's server
	// refuses to register).
	rewriteList func([]byte) []byte
}

func (r *recorder) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost {
			next.ServeHTTP(w, req)
			return
		}
		body, _ := io.ReadAll(req.Body)
		req.Body = io.NopCloser(bytes.NewReader(body))
		var msg struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		_ = json.Unmarshal(body, &msg)
		r.mu.Lock()
		r.seen = append(r.seen, seenRequest{Header: req.Header.Clone(), Method: msg.Method, Params: msg.Params})
		r.mu.Unlock()
		if r.refuseInitialize && msg.Method == "initialize" {
			http.Error(w, `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"initialize was removed"}}`, http.StatusNotFound)
			return
		}
		if r.rewriteList != nil && msg.Method == "tools/list" {
			bw := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
			next.ServeHTTP(bw, req)
			maps.Copy(w.Header(), bw.header)
			w.Header().Del("Content-Length")
			w.WriteHeader(bw.status)
			_, _ = w.Write(r.rewriteList(bw.body.Bytes()))
			return
		}
		next.ServeHTTP(w, req)
	})
}

// bufferedWriter holds a whole response so that the recorder can rewrite it.
type bufferedWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header         { return b.header }
func (b *bufferedWriter) WriteHeader(code int)        { b.status = code }
func (b *bufferedWriter) Write(p []byte) (int, error) { return b.body.Write(p) }

func (r *recorder) methods() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, s := range r.seen {
		out = append(out, s.Method)
	}
	return out
}

func (r *recorder) last(method string) (seenRequest, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.seen) - 1; i >= 0; i-- {
		if r.seen[i].Method == method {
			return r.seen[i], true
		}
	}
	return seenRequest{}, false
}

func TestNegotiation_HTTP(t *testing.T) {
	for _, tc := range []struct {
		name        string
		versions    []string
		modernOnly  bool
		want        string
		wantSession bool
	}{
		{name: "a server of both eras gets 2026-07-28", want: "2026-07-28"},
		{name: "a 2026-07-28-only server gets 2026-07-28", versions: []string{"2026-07-28"}, modernOnly: true, want: "2026-07-28"},
		{name: "a 2025-11-25-only server gets initialize at 2025-11-25", versions: []string{"2025-11-25"}, want: "2025-11-25", wantSession: true},
		{name: "a 2025-06-18-only server gets initialize at the version it named", versions: []string{"2025-06-18"}, want: "2025-06-18", wantSession: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{refuseInitialize: tc.modernOnly}
			ts := startHTTPServerWith(t, newTestMCPServer, rec.wrap, tc.versions...)
			b := openBridge(t, httpConfig(t, ts.URL))
			if got := b.ProtocolVersion(); got != tc.want {
				t.Fatalf("ProtocolVersion = %q, want %q (server saw %v)", got, tc.want, rec.methods())
			}
			if got := b.MCPSessionID() != ""; got != tc.wantSession {
				t.Errorf("has MCP session = %v, want %v", got, tc.wantSession)
			}
			if b.ServerName() != "bridge-test" || b.ServerVersion() != "1.2.3" {
				t.Errorf("server = %q %q, want bridge-test 1.2.3", b.ServerName(), b.ServerVersion())
			}
			c := dial(t, b.SocketPath())
			res := call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "hi"}})
			if got := toolText(t, res); got != "hi" {
				t.Errorf("echo = %q, want hi", got)
			}
			if res := call(t, c, "ping", nil); string(res) != "{}" {
				t.Errorf("ping = %s, want {}", res)
			}
			seen, _ := rec.last("tools/call")
			meta := metaOf(t, seen.Params)
			if tc.want != "2026-07-28" {
				if meta != nil {
					t.Errorf("%s tools/call carries _meta %v, want none", tc.want, meta)
				}
				if h := seen.Header.Get("Mcp-Method"); h != "" {
					t.Errorf("%s tools/call has Mcp-Method %q, want none", tc.want, h)
				}
				return
			}
			assertModernRequest(t, seen, "tools/call", "echo")
		})
	}
}

// metaOf returns the _meta object of params (nil when absent).
func metaOf(t *testing.T, params json.RawMessage) map[string]json.RawMessage {
	t.Helper()
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if len(params) > 0 {
		if err := json.Unmarshal(params, &p); err != nil {
			t.Fatalf("params %s: %v", params, err)
		}
	}
	return p.Meta
}

// assertModernRequest checks the _meta and, over HTTP, the headers of a 2026-07-28 request.
func assertModernRequest(t *testing.T, seen seenRequest, method, name string) {
	t.Helper()
	meta := metaOf(t, seen.Params)
	if got := string(meta[mcp.MetaKeyProtocolVersion]); got != `"2026-07-28"` {
		t.Errorf("%s _meta protocolVersion = %s, want \"2026-07-28\" (params %s)", method, got, seen.Params)
	}
	if got := string(meta[mcp.MetaKeyClientInfo]); !strings.Contains(got, `"name":"mcpctl"`) {
		t.Errorf("%s _meta clientInfo = %s, want mcpctl", method, got)
	}
	if _, ok := meta[mcp.MetaKeyClientCapabilities]; !ok {
		t.Errorf("%s _meta lacks clientCapabilities: %s", method, seen.Params)
	}
	if seen.Header == nil {
		return // stdio
	}
	for h, want := range map[string]string{"Mcp-Protocol-Version": "2026-07-28", "Mcp-Method": method, "Mcp-Name": name} {
		if got := seen.Header.Get(h); got != want {
			t.Errorf("%s header %s = %q, want %q", method, h, got, want)
		}
	}
	if got := seen.Header.Get("Mcp-Session-Id"); got != "" {
		t.Errorf("%s carries Mcp-Session-Id %q on 2026-07-28", method, got)
	}
}

// recordedStdio returns a stdio config whose server records what it reads to the returned
// file, and treats server/discover as mode says (see envTestServer).
func recordedStdio(t *testing.T, mode string) (Config, string) {
	t.Helper()
	cfg := stdioConfig(t)
	record := filepath.Join(t.TempDir(), "seen.jsonl")
	cfg.Env = map[string]string{envTestServer: mode, envTestRecord: record}
	return cfg, record
}

// stdioSeen reads what a recording stdio server read.
func stdioSeen(t *testing.T, record string) []seenRequest {
	t.Helper()
	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	var out []seenRequest
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var msg struct {
			Method string          `json:"method"`
			Params json.RawMessage `json:"params"`
		}
		if err := json.Unmarshal(line, &msg); err != nil {
			t.Fatalf("server read %q: %v", line, err)
		}
		out = append(out, seenRequest{Method: msg.Method, Params: msg.Params})
	}
	return out
}

func methodsOf(seen []seenRequest) []string {
	var out []string
	for _, s := range seen {
		out = append(out, s.Method)
	}
	return out
}

func TestNegotiation_Stdio(t *testing.T) {
	t.Run("a server of both eras gets 2026-07-28 and _meta on every request", func(t *testing.T) {
		cfg, record := recordedStdio(t, "stdio")
		b := openBridge(t, cfg)
		if got := b.ProtocolVersion(); got != "2026-07-28" {
			t.Fatalf("ProtocolVersion = %q, want 2026-07-28", got)
		}
		c := dial(t, b.SocketPath())
		call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "hi"}})
		call(t, c, "tools/list", map[string]any{"_meta": map[string]any{"mine": 1}})
		all := stdioSeen(t, record)
		for _, s := range all {
			assertModernRequest(t, s, s.Method, "")
		}
		// subscriptions/listen goes out on its own, at a moment of its own (listen_test.go).
		seen := slices.DeleteFunc(slices.Clone(all), func(s seenRequest) bool { return s.Method == "subscriptions/listen" })
		if got := methodsOf(seen); strings.Join(got, " ") != "server/discover tools/call tools/list" {
			t.Errorf("server read %v, want server/discover tools/call tools/list (no initialize)", got)
		}
		if got := string(metaOf(t, seen[2].Params)["mine"]); got != "1" {
			t.Errorf("the caller's own _meta was lost: %s", seen[2].Params)
		}
	})
	t.Run("the previous generation's legacy revision skips the probe", func(t *testing.T) {
		cfg, record := recordedStdio(t, "stdio")
		cfg.KnownProtocol = "2025-11-25"
		b := openBridge(t, cfg)
		if got := b.ProtocolVersion(); got != "2025-11-25" {
			t.Fatalf("ProtocolVersion = %q, want 2025-11-25", got)
		}
		c := dial(t, b.SocketPath())
		call(t, c, "tools/list", nil)
		seen := stdioSeen(t, record)
		if got := methodsOf(seen); strings.Join(got, " ") != "initialize notifications/initialized tools/list" {
			t.Errorf("server read %v, want initialize notifications/initialized tools/list", got)
		}
		if meta := metaOf(t, seen[2].Params); meta != nil {
			t.Errorf("legacy tools/list carries _meta %v", meta)
		}
	})
	t.Run("a server that ignores server/discover costs only the bounded wait", func(t *testing.T) {
		cfg, _ := recordedStdio(t, "stdio-ignores-discover")
		cfg.DiscoverTimeout = 300 * time.Millisecond
		logs := &probeLog{}
		cfg.Logger = slog.New(logs)
		b := openBridge(t, cfg)
		if got := b.ProtocolVersion(); got != "2025-11-25" {
			t.Fatalf("ProtocolVersion = %q, want 2025-11-25", got)
		}
		// What ended the probe is the bound (a deadline), not an answer of the server: no
		// wall clock in the assertion, which a loaded machine would make flaky.
		if got := logs.probeError(); !strings.Contains(got, "deadline exceeded") {
			t.Errorf("the probe ended with %q, want the DiscoverTimeout deadline", got)
		}
		c := dial(t, b.SocketPath())
		if got := toolText(t, call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "x"}})); got != "x" {
			t.Errorf("echo = %q", got)
		}
	})
	t.Run("a server that dies on server/discover is started again with initialize", func(t *testing.T) {
		cfg, record := recordedStdio(t, "stdio-dies-on-discover")
		b := openBridge(t, cfg)
		if got := b.ProtocolVersion(); got != "2025-11-25" {
			t.Fatalf("ProtocolVersion = %q, want 2025-11-25", got)
		}
		// notifications/initialized gets no answer: wait for the server to read it.
		testwait.For(t, 5*time.Second, func() error {
			if got := methodsOf(stdioSeen(t, record)); strings.Join(got, " ") != "server/discover initialize notifications/initialized" {
				return fmt.Errorf("servers read %v, want server/discover, then (second spawn) initialize", got)
			}
			return nil
		})
	})
	t.Run("logging/setLevel becomes the per-request log level on 2026-07-28", func(t *testing.T) {
		cfg, record := recordedStdio(t, "stdio")
		b := openBridge(t, cfg)
		c := dial(t, b.SocketPath())
		if res := call(t, c, "logging/setLevel", map[string]any{"level": "debug"}); string(res) != "{}" {
			t.Errorf("logging/setLevel = %s, want {}", res)
		}
		call(t, c, "tools/list", nil)
		// The last tools/list the server read (the listen stream runs beside it and may be
		// read after it).
		var last seenRequest
		for _, r := range stdioSeen(t, record) {
			if r.Method == "tools/list" {
				last = r
			}
		}
		if last.Method != "tools/list" || string(metaOf(t, last.Params)[mcp.MetaKeyLogLevel]) != `"debug"` {
			t.Errorf("server read tools/list %s, want it with logLevel debug", last.Params)
		}
	})
}

func TestNegotiation_SSEStaysLegacy(t *testing.T) {
	cfg := httpConfig(t, "http://127.0.0.1:1/sse")
	cfg.Server.Transport = events.TransportSSE
	cfg.Protocol = "2026-07-28"
	if err := New(cfg).Open(context.Background()); err == nil || !strings.Contains(err.Error(), "legacy HTTP+SSE") {
		t.Errorf("Open with 2026-07-28 over SSE = %v, want a refusal", err)
	}
}

// newHeaderToolsServer is the test server plus two tools that declare x-mcp-header:
// "route" validly (region → Mcp-Param-Region, n → Mcp-Param-N), and "broken", which
// breakHeaders turns into a case-insensitive duplicate, which the spec forbids (mcp-go's
// server refuses to register it as such).
func newHeaderToolsServer(inits *atomic.Int64, allowExit bool) *server.MCPServer {
	s := newTestMCPServer(inits, allowExit)
	s.AddTool(mcp.NewToolWithRawSchema("route", "", json.RawMessage(`{"type":"object","properties":{
		"region":{"type":"string","x-mcp-header":"Region"},"n":{"type":"integer","x-mcp-header":"N"}}}`)),
		func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("routed to " + r.GetString("region", "")), nil
		})
	s.AddTool(mcp.NewToolWithRawSchema("broken", "", json.RawMessage(`{"type":"object","properties":{
		"a":{"type":"string","x-mcp-header":"Dup1"},"b":{"type":"string","x-mcp-header":"Dup2"}}}`)),
		func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("should not be listed"), nil
		})
	return s
}

func breakHeaders(b []byte) []byte { return bytes.ReplaceAll(b, []byte(`"Dup2"`), []byte(`"dup1"`)) }

func TestParamHeaders_HTTP(t *testing.T) {
	rec := &recorder{rewriteList: breakHeaders}
	ts := startHTTPServerWith(t, newHeaderToolsServer, rec.wrap)
	var logs lockedBuffer
	cfg := httpConfig(t, ts.URL)
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	b := openBridge(t, cfg)
	c := dial(t, b.SocketPath())

	list := call(t, c, "tools/list", nil)
	t.Run("a tool with an invalid x-mcp-header declaration is left out with a warning", func(t *testing.T) {
		if bytes.Contains(list, []byte(`"broken"`)) {
			t.Errorf("tools/list still has broken: %s", list)
		}
		for _, name := range []string{"route", "echo"} {
			if !bytes.Contains(list, []byte(`"`+name+`"`)) {
				t.Errorf("tools/list lacks %s: %s", name, list)
			}
		}
		if !strings.Contains(logs.String(), "broken") || !strings.Contains(logs.String(), "x-mcp-header") {
			t.Errorf("no warning naming the tool: %s", logs.String())
		}
	})
	t.Run("the valid tool's declared arguments are mirrored into Mcp-Param-* headers", func(t *testing.T) {
		res := call(t, c, "tools/call", map[string]any{"name": "route", "arguments": map[string]any{"region": "eu-west", "n": 3}})
		if got := toolText(t, res); got != "routed to eu-west" {
			t.Errorf("route = %q", got)
		}
		seen, _ := rec.last("tools/call")
		assertModernRequest(t, seen, "tools/call", "route")
		if got := seen.Header.Get("Mcp-Param-Region"); got != "eu-west" {
			t.Errorf("Mcp-Param-Region = %q, want eu-west", got)
		}
		if got := seen.Header.Get("Mcp-Param-N"); got != "3" {
			t.Errorf("Mcp-Param-N = %q, want 3", got)
		}
	})
	t.Run("values that are not plain ASCII are sent base64-wrapped", func(t *testing.T) {
		res := call(t, c, "tools/call", map[string]any{"name": "route", "arguments": map[string]any{"region": "zürich"}})
		if got := toolText(t, res); got != "routed to zürich" {
			t.Errorf("route = %q", got)
		}
		seen, _ := rec.last("tools/call")
		if got, want := seen.Header.Get("Mcp-Param-Region"), "=?base64?"+base64.StdEncoding.EncodeToString([]byte("zürich"))+"?="; got != want {
			t.Errorf("Mcp-Param-Region = %q, want %q", got, want)
		}
		if got := seen.Header.Get("Mcp-Param-N"); got != "" {
			t.Errorf("Mcp-Param-N = %q for an absent argument, want none", got)
		}
	})
	t.Run("resources/read and prompts/get name their target in Mcp-Name", func(t *testing.T) {
		_, _ = callErr(c, "resources/read", map[string]any{"uri": "test://nothing"})
		seen, ok := rec.last("resources/read")
		if !ok {
			t.Fatal("server saw no resources/read")
		}
		if got := seen.Header.Get("Mcp-Name"); got != "test://nothing" {
			t.Errorf("Mcp-Name = %q, want test://nothing", got)
		}
	})
}

func TestResultType_Stdio(t *testing.T) {
	b := openBridge(t, stdioConfig(t))
	if b.ProtocolVersion() != "2026-07-28" {
		t.Fatalf("ProtocolVersion = %q, want 2026-07-28", b.ProtocolVersion())
	}
	c := dial(t, b.SocketPath())
	t.Run("input_required with only requestState is retried with the state echoed", func(t *testing.T) {
		res := call(t, c, "tools/call", map[string]any{"name": "shed", "arguments": map[string]any{}})
		if got := toolText(t, res); got != "done after shedding" {
			t.Errorf("shed = %q, want done after shedding", got)
		}
	})
	t.Run("input_required asking for undeclared input is an error, not a result", func(t *testing.T) {
		_, err := callErr(c, "tools/call", map[string]any{"name": "ask", "arguments": map[string]any{}})
		if err == nil || !strings.Contains(err.Error(), "asked for input") {
			t.Errorf("ask = %v, want an error saying the server asked for input", err)
		}
		call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "still serving"}})
	})
}

// probeLog keeps the error the bridge logged when server/discover failed.
type probeLog struct {
	mu  sync.Mutex
	err string
}

func (l *probeLog) Enabled(context.Context, slog.Level) bool { return true }
func (l *probeLog) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *probeLog) WithGroup(string) slog.Handler            { return l }
func (l *probeLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "server/discover failed") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "err" {
			l.mu.Lock()
			l.err = a.Value.String()
			l.mu.Unlock()
		}
		return true
	})
	return nil
}

func (l *probeLog) probeError() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
