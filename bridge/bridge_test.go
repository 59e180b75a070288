package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/server"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

func TestBridge_Stdio(t *testing.T) {
	b := openBridge(t, stdioConfig(t))
	c := dial(t, b.SocketPath())

	t.Run("accessors describe the server", func(t *testing.T) {
		if b.ServerName() != "bridge-test" || b.ServerVersion() != "1.2.3" {
			t.Errorf("server = %q %q, want bridge-test 1.2.3", b.ServerName(), b.ServerVersion())
		}
		if b.ProtocolVersion() != DefaultStdioProtocol {
			t.Errorf("protocol = %q, want the pinned %q", b.ProtocolVersion(), DefaultStdioProtocol)
		}
		if b.MCPSessionID() != "" {
			t.Errorf("stdio session id = %q, want empty", b.MCPSessionID())
		}
	})
	t.Run("tools/list through the socket", func(t *testing.T) {
		res := call(t, c, "tools/list", nil)
		for _, name := range []string{"echo", "slow", "notify", "exit"} {
			if !bytes.Contains(res, []byte(`"`+name+`"`)) {
				t.Errorf("tools/list lacks %s: %s", name, res)
			}
		}
	})
	t.Run("tools/call through the socket", func(t *testing.T) {
		res := call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "hé\nllo"}})
		if got := toolText(t, res); got != "hé\nllo" {
			t.Errorf("echo = %q, want %q", got, "hé\nllo")
		}
	})
	t.Run("JSON-RPC errors come back verbatim", func(t *testing.T) {
		_, err := callErr(c, "no/such/method", nil)
		var rpcErr *rpc.RPCError
		if !errors.As(err, &rpcErr) || rpcErr.Code != -32601 {
			t.Fatalf("err = %v, want a -32601 RPCError", err)
		}
	})
	t.Run("ping and Check are real round trips", func(t *testing.T) {
		if res := call(t, c, "ping", nil); string(res) != "{}" {
			t.Errorf("ping = %s, want {}", res)
		}
		if err := b.Check(context.Background()); err != nil {
			t.Errorf("Check: %v", err)
		}
	})
	t.Run("initialize is answered from the cached result", func(t *testing.T) {
		res := call(t, c, "initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
			"clientInfo": map[string]any{"name": "x", "version": "1"}})
		if !bytes.Equal(res, b.InitializeResult()) {
			t.Errorf("initialize = %s, want the cached %s", res, b.InitializeResult())
		}
		if err := c.Notify(context.Background(), "notifications/initialized", nil); err != nil {
			t.Fatal(err)
		}
		// The connection still works: the notification was swallowed, not answered.
		call(t, c, "ping", nil)
	})
}

func TestBridge_InitializeAnsweredFromCache_ServerSeesOne(t *testing.T) {
	ts := startHTTPServer(t)
	b := openBridge(t, httpConfig(t, ts.URL))
	for i := range 3 {
		c := dial(t, b.SocketPath())
		call(t, c, "initialize", map[string]any{"protocolVersion": "2025-11-25"})
		call(t, c, "tools/list", nil)
		_ = i
	}
	if n := ts.Inits.Load(); n != 1 {
		t.Errorf("server saw %d initialize requests, want 1", n)
	}
}

func TestBridge_NotificationsForwarded(t *testing.T) {
	type note struct{ method, params string }
	hook := make(chan note, 16)
	cfg := stdioConfig(t)
	cfg.OnNotification = func(m string, p json.RawMessage) { hook <- note{m, string(p)} }
	b := openBridge(t, cfg)
	c := dial(t, b.SocketPath())
	call(t, c, "initialize", map[string]any{})

	call(t, c, "tools/call", map[string]any{"name": "notify", "arguments": map[string]any{"text": "hello"}})
	select {
	case m := <-c.Notifications():
		if m.Method != "notifications/message" || !bytes.Contains(m.Params, []byte(`"hello"`)) {
			t.Errorf("client got %s %s, want notifications/message with hello", m.Method, m.Params)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("client got no notification")
	}
	select {
	case n := <-hook:
		if n.method != "notifications/message" || !strings.Contains(n.params, "hello") {
			t.Errorf("hook got %s %s", n.method, n.params)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("hook got no notification")
	}

	t.Run("progress reaches the caller with its own token", func(t *testing.T) {
		other := dial(t, b.SocketPath())
		call(t, other, "initialize", map[string]any{})
		res := call(t, other, "tools/call", map[string]any{"name": "progress", "arguments": map[string]any{},
			"_meta": map[string]any{"progressToken": 1}})
		if got := toolText(t, res); got != "progressed" {
			t.Fatalf("progress tool = %q", got)
		}
		select {
		case m := <-other.Notifications():
			var p struct {
				Token json.RawMessage `json:"progressToken"`
			}
			_ = json.Unmarshal(m.Params, &p)
			if m.Method != "notifications/progress" || string(p.Token) != "1" {
				t.Errorf("caller got %s %s, want progress with its token 1", m.Method, m.Params)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("caller got no progress")
		}
		// The first client also sent initialize, but the progress was not for it: it sees
		// nothing once a later broadcast has reached it.
		call(t, c, "tools/call", map[string]any{"name": "notify", "arguments": map[string]any{"text": "second"}})
		m := <-c.Notifications()
		if m.Method != "notifications/message" {
			t.Errorf("other client's progress leaked: got %s %s", m.Method, m.Params)
		}
	})
}

func TestBridge_CancellationReachesServer(t *testing.T) {
	b := openBridge(t, stdioConfig(t))
	dir := t.TempDir()

	t.Run("client connection closed", func(t *testing.T) {
		c, err := rpc.Dial(context.Background(), b.SocketPath())
		if err != nil {
			t.Fatal(err)
		}
		started, marker := filepath.Join(dir, "a.started"), filepath.Join(dir, "a.cancelled")
		errc := make(chan error, 1)
		go func() {
			_, err := c.Call(context.Background(), "tools/call",
				json.RawMessage(fmt.Sprintf(`{"name":"slow","arguments":{"started":%q,"marker":%q}}`, started, marker)))
			errc <- err
		}()
		testwait.For(t, 10*time.Second, fileExists(started))
		_ = c.Close()
		if err := <-errc; !errors.Is(err, rpc.ErrDisconnected) {
			t.Errorf("call on a closed client = %v, want ErrDisconnected", err)
		}
		testwait.For(t, 10*time.Second, fileExists(marker))
	})
	t.Run("caller's context ends", func(t *testing.T) {
		c := dial(t, b.SocketPath())
		started, marker := filepath.Join(dir, "b.started"), filepath.Join(dir, "b.cancelled")
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.Call(ctx, "tools/call",
				json.RawMessage(fmt.Sprintf(`{"name":"slow","arguments":{"started":%q,"marker":%q}}`, started, marker)))
			errc <- err
		}()
		testwait.For(t, 10*time.Second, fileExists(started))
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Call = %v, want context.Canceled", err)
		}
		testwait.For(t, 10*time.Second, fileExists(marker))
		// The connection is still good for the next call.
		call(t, c, "ping", nil)
	})
}

func TestBridge_StdioServerExit(t *testing.T) {
	b := openBridge(t, stdioConfig(t))
	c := dial(t, b.SocketPath())
	_, err := callErr(c, "tools/call", map[string]any{"name": "exit", "arguments": map[string]any{}})
	if !errors.Is(err, rpc.ErrServerLost) {
		t.Errorf("call that kills the server = %v, want ErrServerLost", err)
	}
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after the server exited")
	}
	if err := b.Err(); !errors.Is(err, rpc.ErrServerLost) || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Err = %v, want rpc.ErrServerLost with exit status 3", err)
	}
	if _, err := callErr(c, "tools/list", nil); !errors.Is(err, rpc.ErrServerLost) {
		t.Errorf("call after the exit = %v, want ErrServerLost", err)
	}
}

func TestBridge_StdioEnvAndStderr(t *testing.T) {
	var log lockedBuffer
	cfg := stdioConfig(t)
	cfg.Stderr = &log
	cfg.Env["MCPCTL_TEST_GREETING"] = "from-env"
	b := openBridge(t, cfg)
	testwait.For(t, 5*time.Second, func() error {
		if !strings.Contains(log.String(), "greeting=from-env") {
			return fmt.Errorf("stderr so far: %q", log.String())
		}
		return nil
	})
	if err := b.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !errors.Is(b.Err(), rpc.ErrUpstreamClosed) {
		t.Errorf("Err after Close = %v, want ErrUpstreamClosed", b.Err())
	}
	if _, err := os.Stat(b.SocketPath()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket after Close: %v, want it removed", err)
	}
}

func TestBridge_HTTP(t *testing.T) {
	ts := startHTTPServer(t)
	b := openBridge(t, httpConfig(t, ts.URL))
	c := dial(t, b.SocketPath())
	if b.MCPSessionID() == "" {
		t.Fatal("no Mcp-Session-Id kept")
	}
	res := call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "over http"}})
	if got := toolText(t, res); got != "over http" {
		t.Errorf("echo = %q", got)
	}

	t.Run("notifications arrive over HTTP", func(t *testing.T) {
		call(t, c, "initialize", map[string]any{})
		call(t, c, "tools/call", map[string]any{"name": "notify", "arguments": map[string]any{"text": "via sse"}})
		select {
		case m := <-c.Notifications():
			if !bytes.Contains(m.Params, []byte("via sse")) {
				t.Errorf("got %s %s", m.Method, m.Params)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no notification")
		}
	})
	t.Run("cancel reaches the HTTP server", func(t *testing.T) {
		dir := t.TempDir()
		started, marker := filepath.Join(dir, "started"), filepath.Join(dir, "cancelled")
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, err := c.Call(ctx, "tools/call",
				json.RawMessage(fmt.Sprintf(`{"name":"slow","arguments":{"started":%q,"marker":%q}}`, started, marker)))
			errc <- err
		}()
		testwait.For(t, 10*time.Second, fileExists(started))
		cancel()
		<-errc
		testwait.For(t, 10*time.Second, fileExists(marker))
	})

	t.Run("close keeps the session, a successor resumes it, EndSession deletes it", func(t *testing.T) {
		session, init := b.MCPSessionID(), b.InitializeResult()
		if err := b.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		cfg := httpConfig(t, ts.URL)
		cfg.ResumeSessionID, cfg.ResumeInitialize = session, init
		b2 := openBridge(t, cfg)
		if b2.MCPSessionID() != session {
			t.Errorf("resumed session = %q, want %q", b2.MCPSessionID(), session)
		}
		c2 := dial(t, b2.SocketPath())
		call(t, c2, "tools/list", nil)
		if n := ts.Inits.Load(); n != 1 {
			t.Errorf("server saw %d initializations, want 1 (resumed)", n)
		}
		if err := b2.CloseWith(context.Background(), CloseOptions{EndSession: true}); err != nil {
			t.Fatal(err)
		}
		if code := postWithSession(t, ts.URL, session); code != http.StatusNotFound {
			t.Errorf("request on the ended session = %d, want 404", code)
		}
	})
}

func TestBridge_HTTPExpired(t *testing.T) {
	ts := startHTTPServer(t)
	b := openBridge(t, httpConfig(t, ts.URL))
	c := dial(t, b.SocketPath())
	call(t, c, "tools/list", nil)

	// The server forgets the session.
	req, _ := http.NewRequest(http.MethodDelete, ts.URL, nil)
	req.Header.Set("Mcp-Session-Id", b.MCPSessionID())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()

	if _, err := callErr(c, "tools/list", nil); !errors.Is(err, rpc.ErrExpired) {
		t.Errorf("call on a forgotten session = %v, want ErrExpired", err)
	}
	select {
	case <-b.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed")
	}
	if !errors.Is(b.Err(), rpc.ErrExpired) {
		t.Errorf("Err = %v, want ErrExpired", b.Err())
	}
}

func TestBridge_HTTPUnauthorized(t *testing.T) {
	ts := startHTTPServer(t)
	ts.Token = "good"

	t.Run("401 at open", func(t *testing.T) {
		cfg := httpConfig(t, ts.URL)
		cfg.Headers = map[string]string{"Authorization": "Bearer bad"}
		err := New(cfg).Open(context.Background())
		if !errors.Is(err, rpc.ErrUnauthorized) {
			t.Errorf("Open with a bad token = %v, want ErrUnauthorized", err)
		}
	})
	t.Run("403 later", func(t *testing.T) {
		cfg := httpConfig(t, ts.URL)
		cfg.Headers = map[string]string{"Authorization": "Bearer good"}
		b := openBridge(t, cfg)
		c := dial(t, b.SocketPath())
		call(t, c, "tools/list", nil)
		ts.Deny.Store(http.StatusForbidden)
		defer ts.Deny.Store(0)
		if _, err := callErr(c, "tools/list", nil); !errors.Is(err, rpc.ErrUnauthorized) {
			t.Errorf("call answered 403 = %v, want ErrUnauthorized", err)
		}
		testwait.For(t, 5*time.Second, func() error {
			if !errors.Is(b.Err(), rpc.ErrUnauthorized) {
				return fmt.Errorf("Err = %v", b.Err())
			}
			return nil
		})
	})
}

func postWithSession(t *testing.T, url, session string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", session)
	req.Header.Set("Mcp-Protocol-Version", "2025-11-25")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func TestBridge_LegacySSE(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	sse := server.NewSSEServer(newTestMCPServer(nil, false), server.WithBaseURL(base))
	srv := &http.Server{Handler: sse}
	go func() { _ = srv.Serve(ln) }()

	cfg := httpConfig(t, base+"/sse")
	cfg.Server.Transport = events.TransportSSE
	b := openBridge(t, cfg)
	c := dial(t, b.SocketPath())
	res := call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "legacy"}})
	if got := toolText(t, res); got != "legacy" {
		t.Errorf("echo = %q", got)
	}

	// The server goes away: the event stream breaks and the bridge reports the loss.
	_ = srv.Close()
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Done not closed after the SSE server went away")
	}
	if !errors.Is(b.Err(), rpc.ErrServerLost) {
		t.Errorf("Err = %v, want ErrServerLost", b.Err())
	}
}
