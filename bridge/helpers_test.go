package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
)

// envTestServer makes the test binary an MCP stdio server (see TestMain). Its value says
// how the server treats server/discover: "stdio" serves it (both eras),
// "stdio-ignores-discover" never answers it (a server predating 2026-07-28 that drops
// unknown methods), "stdio-dies-on-discover" exits on it. envTestRecord, when set, names a
// file that gets every line the server reads.
const (
	envTestServer = "MCPCTL_BRIDGE_TEST_SERVER"
	envTestRecord = "MCPCTL_BRIDGE_TEST_RECORD"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envTestServer); mode != "" {
		fmt.Fprintf(os.Stderr, "test server up, greeting=%s\n", os.Getenv("MCPCTL_TEST_GREETING"))
		var err error
		switch {
		case mode == "asks":
			// The ask tools of askServer (asks_test.go) over stdio.
			err = server.ServeStdio(askServer(new(atomic.Pointer[mcp.ClientCapabilities]))(nil, true))
		case mode == "stdio" && os.Getenv(envTestRecord) == "":
			err = server.ServeStdio(newTestMCPServer(nil, true))
		default:
			in := filterStdin(mode, os.Getenv(envTestRecord))
			err = server.NewStdioServer(newTestMCPServer(nil, true)).Listen(context.Background(), in, os.Stdout)
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "test server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// filterStdin passes the test server's stdin on line by line, recording each line to
// record (when set) and treating server/discover as mode says.
func filterStdin(mode, record string) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			line := sc.Bytes()
			if record != "" {
				if f, err := os.OpenFile(record, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); err == nil {
					_, _ = f.Write(append(append([]byte(nil), line...), '\n'))
					_ = f.Close()
				}
			}
			if bytes.Contains(line, []byte(`"method":"server/discover"`)) {
				switch mode {
				case "stdio-ignores-discover":
					continue
				case "stdio-dies-on-discover":
					os.Exit(4)
				}
			}
			if _, err := pw.Write(append(append([]byte(nil), line...), '\n')); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	return pr
}

// newTestMCPServer is the MCP server the tests talk to. Tools:
//
//	echo{text}            → text
//	slow{started,marker}  → writes started, blocks until cancelled, then writes marker
//	notify{text}          → sends notifications/message with text, then returns
//	progress              → sends notifications/progress for the request's token
//	exit                  → the process exits with status 3 (stdio only)
func newTestMCPServer(inits *atomic.Int64, allowExit bool) *server.MCPServer {
	hooks := &server.Hooks{}
	hooks.AddBeforeInitialize(func(context.Context, any, *mcp.InitializeRequest) {
		if inits != nil {
			inits.Add(1)
		}
	})
	s := server.NewMCPServer("bridge-test", "1.2.3", server.WithToolCapabilities(true),
		server.WithLogging(), server.WithHooks(hooks))
	s.AddTool(mcp.NewTool("echo", mcp.WithString("text", mcp.Required())),
		func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText(r.GetString("text", "")), nil
		})
	s.AddTool(mcp.NewTool("slow", mcp.WithString("started"), mcp.WithString("marker")),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if p := r.GetString("started", ""); p != "" {
				_ = os.WriteFile(p, []byte("started"), 0o600)
			}
			select {
			case <-ctx.Done():
				if p := r.GetString("marker", ""); p != "" {
					_ = os.WriteFile(p, []byte(ctx.Err().Error()), 0o600)
				}
				return nil, ctx.Err()
			case <-time.After(time.Minute):
				return mcp.NewToolResultText("not cancelled"), nil
			}
		})
	s.AddTool(mcp.NewTool("notify", mcp.WithString("text")),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			err := s.SendNotificationToClient(ctx, "notifications/message",
				map[string]any{"level": "info", "logger": "test", "data": r.GetString("text", "")})
			if err != nil {
				return nil, err
			}
			return mcp.NewToolResultText("sent"), nil
		})
	s.AddTool(mcp.NewTool("progress"),
		func(ctx context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if r.Params.Meta == nil || r.Params.Meta.ProgressToken == nil {
				return mcp.NewToolResultError("no progress token"), nil
			}
			err := s.SendNotificationToClient(ctx, "notifications/progress",
				map[string]any{"progressToken": r.Params.Meta.ProgressToken, "progress": 1, "total": 2})
			if err != nil {
				return nil, err
			}
			return mcp.NewToolResultText("progressed"), nil
		})
	// shed answers input_required with only a requestState (load shedding) until the
	// request comes back with that state; ask asks for an elicitation.
	s.AddTool(mcp.NewTool("shed"), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if r.Params.RequestState == "state-1" {
			return mcp.NewToolResultText("done after shedding"), nil
		}
		res := &mcp.CallToolResult{}
		res.ResultType = mcp.ResultTypeInputRequired
		res.RequestState = "state-1"
		return res, nil
	})
	s.AddTool(mcp.NewTool("ask"), func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res := &mcp.CallToolResult{}
		res.ResultType = mcp.ResultTypeInputRequired
		res.InputRequests = mcp.InputRequests{"q": mcp.NewRootsInputRequest()}
		return res, nil
	})
	if allowExit {
		s.AddTool(mcp.NewTool("exit"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			os.Exit(3)
			return nil, nil
		})
	}
	return s
}

// socketDir returns a short private directory for sockets (t.TempDir can exceed sun_path).
func socketDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "mb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return filepath.Join(dir, "bridges")
}

func stdioConfig(t *testing.T) Config {
	t.Helper()
	return Config{
		Session: "stdio-test",
		Server: events.Server{Transport: events.TransportStdio, Command: os.Args[0],
			Args: []string{"-test.run=^$"}},
		Env:        map[string]string{envTestServer: "stdio"},
		SocketPath: filepath.Join(socketDir(t), "s.1.sock"),
	}
}

// openBridge opens a bridge and closes it at cleanup.
func openBridge(t *testing.T, cfg Config) *Bridge {
	t.Helper()
	b := New(cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.Open(ctx); err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// testHTTPServer is an in-process Streamable HTTP MCP server on 127.0.0.1.
type testHTTPServer struct {
	URL   string
	Inits atomic.Int64
	// Deny, when set, answers every request with that status.
	Deny atomic.Int64
	// Token, when set, is the bearer token required (401 otherwise).
	Token string
}

// startHTTPServer starts a stateful server that serves only the revisions before 2026-07-28
// (the session tests are about those): it rejects the bridge's server/discover at
// 2026-07-28, naming them, and the bridge falls back to initialize.
func startHTTPServer(t *testing.T) *testHTTPServer {
	t.Helper()
	return startHTTPServerWith(t, newTestMCPServer, nil, mcp.LegacyProtocolVersions()...)
}

// startHTTPServerWith starts a stateful Streamable HTTP server serving versions (all when
// none are named), built by mk; wrap, when set, wraps its handler (to record or refuse
// requests).
func startHTTPServerWith(t *testing.T, mk func(*atomic.Int64, bool) *server.MCPServer,
	wrap func(http.Handler) http.Handler, versions ...string) *testHTTPServer {
	t.Helper()
	ts := &testHTTPServer{}
	mcpSrv := mk(&ts.Inits, false)
	var h http.Handler = server.NewStreamableHTTPServer(mcpSrv, server.WithStateful(true),
		server.WithStreamableHTTPProtocolVersions(versions...))
	if wrap != nil {
		h = wrap(h)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code := ts.Deny.Load(); code != 0 {
			http.Error(w, "denied", int(code))
			return
		}
		if ts.Token != "" && r.Header.Get("Authorization") != "Bearer "+ts.Token {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		_ = srv.Close()
	})
	ts.URL = "http://" + ln.Addr().String() + "/mcp"
	return ts
}

func httpConfig(t *testing.T, url string) Config {
	t.Helper()
	return Config{
		Session:    "http-test",
		Server:     events.Server{Transport: events.TransportHTTP, URL: url},
		SocketPath: filepath.Join(socketDir(t), "h.1.sock"),
	}
}

func dial(t *testing.T, path string) *rpc.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := rpc.Dial(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func call(t *testing.T, c *rpc.Client, method string, params any) json.RawMessage {
	t.Helper()
	res, err := callErr(c, method, params)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return res
}

func callErr(c *rpc.Client, method string, params any) (json.RawMessage, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var raw json.RawMessage
	if params != nil {
		b, err := json.Marshal(params)
		if err != nil {
			return nil, err
		}
		raw = b
	}
	return c.Call(ctx, method, raw)
}

// toolText returns the first text content of a tools/call result.
func toolText(t *testing.T, res json.RawMessage) string {
	t.Helper()
	var r struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	if err := json.Unmarshal(res, &r); err != nil || len(r.Content) == 0 {
		t.Fatalf("not a tool result: %s (%v)", res, err)
	}
	return r.Content[0].Text
}

func fileExists(path string) func() error {
	return func() error {
		if _, err := os.Stat(path); err != nil {
			return err
		}
		return nil
	}
}

// funcUpstream is an Upstream made of function fields, for unit tests of the socket side.
type funcUpstream struct {
	call func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)
	done chan struct{}
}

func newFuncUpstream(call func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error)) *funcUpstream {
	return &funcUpstream{call: call, done: make(chan struct{})}
}

func (f *funcUpstream) Initialize(context.Context) (json.RawMessage, error) {
	return json.RawMessage(`{"protocolVersion":"2025-11-25","serverInfo":{"name":"fake","version":"0"}}`), nil
}
func (f *funcUpstream) Call(ctx context.Context, m string, p json.RawMessage) (json.RawMessage, error) {
	return f.call(ctx, m, p)
}
func (f *funcUpstream) Notify(context.Context, string, json.RawMessage) error { return nil }
func (f *funcUpstream) OnNotification(func(string, json.RawMessage))          {}
func (f *funcUpstream) Done() <-chan struct{}                                 { return f.done }
func (f *funcUpstream) Err() error                                            { return nil }
func (f *funcUpstream) SessionID() string                                     { return "" }
func (f *funcUpstream) Close(context.Context, CloseOptions) error             { return nil }

var _ Upstream = (*funcUpstream)(nil)

func echoUpstream() *funcUpstream {
	return newFuncUpstream(func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		if method == "fail" {
			return nil, &rpc.RPCError{Code: -32000, Message: "failed", Data: json.RawMessage(`{"why":"asked"}`)}
		}
		if method == "block" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if len(params) == 0 {
			return json.RawMessage(`{}`), nil
		}
		return params, nil
	})
}

// listenServer starts a Server on a fresh socket and closes it at cleanup.
func listenServer(t *testing.T, up Upstream, path string, tune func(*Server)) *Server {
	t.Helper()
	init, _ := up.Initialize(context.Background())
	s := NewServer(up, init)
	if tune != nil {
		tune(s)
	}
	if err := s.Listen(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

var errNotYet = errors.New("not yet")

// lockedBuffer is a bytes.Buffer safe for the stderr copier and the test to share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func stdioServerForBench() events.Server {
	return events.Server{Transport: events.TransportStdio, Command: os.Args[0], Args: []string{"-test.run=^$"}}
}
