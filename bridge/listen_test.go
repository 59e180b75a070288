package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestListen_HTTP: on a 2026-07-28 session the bridge holds subscriptions/listen open, so
// a notification the server sends outside any request (here the tools/list_changed mcp-go
// sends when a tool is added) reaches OnNotification as on the GET stream before; and
// resources/subscribe, which 2026-07-28 removed, opens the stream again with the URI in its
// filter.
func TestListen_HTTP(t *testing.T) {
	var mcpSrv atomic.Pointer[server.MCPServer]
	mk := func(*atomic.Int64, bool) *server.MCPServer {
		s := server.NewMCPServer("listen-test", "1.0.0", server.WithToolCapabilities(true),
			server.WithResourceCapabilities(true, true))
		s.AddTool(mcp.NewTool("echo", mcp.WithString("text")),
			func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText(r.GetString("text", "")), nil
			})
		mcpSrv.Store(s)
		return s
	}
	rec := &recorder{}
	ts := startHTTPServerWith(t, mk, rec.wrap)
	var mu sync.Mutex
	var got []string
	cfg := httpConfig(t, ts.URL)
	cfg.OnNotification = func(method string, _ json.RawMessage) {
		mu.Lock()
		got = append(got, method)
		mu.Unlock()
	}
	b := openBridge(t, cfg)
	if b.ProtocolVersion() != "2026-07-28" {
		t.Fatalf("ProtocolVersion = %q, want 2026-07-28", b.ProtocolVersion())
	}
	seen := func(method string) bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(got, method)
	}
	// The stream opens on its own a moment after Open; a tool added before it is there
	// announces nothing to it, so keep adding until one is heard.
	i := 0
	testwait.For(t, 10*time.Second, func() error {
		if seen("notifications/tools/list_changed") {
			return nil
		}
		mcpSrv.Load().AddTool(mcp.NewTool(fmt.Sprintf("late-%d", i)),
			func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText("late"), nil
			})
		i++
		mu.Lock()
		defer mu.Unlock()
		return fmt.Errorf("no notifications/tools/list_changed reached OnNotification (got %v; server saw %v)", got, rec.methods())
	})
	if seen(mcp.MethodNotificationSubscriptionsAcknowledged) {
		t.Errorf("the listen protocol's own acknowledgement was passed on: %v", got)
	}
	listen, _ := rec.last("subscriptions/listen")
	assertModernRequest(t, listen, "subscriptions/listen", "")
	var p mcp.SubscriptionsListenParams
	_ = json.Unmarshal(listen.Params, &p)
	if !p.Notifications.ToolsListChanged || !p.Notifications.ResourcesListChanged || p.Notifications.PromptsListChanged {
		t.Errorf("listen filter = %+v, want the list changes the server announces (tools, resources)", p.Notifications)
	}

	c := dial(t, b.SocketPath())
	if res := call(t, c, "resources/subscribe", map[string]any{"uri": "test://r"}); string(res) != "{}" {
		t.Errorf("resources/subscribe = %s, want {}", res)
	}
	testwait.For(t, 5*time.Second, func() error {
		listen, _ = rec.last("subscriptions/listen")
		if !strings.Contains(string(listen.Params), `"resourceSubscriptions":["test://r"]`) {
			return fmt.Errorf("no subscriptions/listen with the subscribed URI (last: %s)", listen.Params)
		}
		return nil
	})
	for _, m := range rec.methods() {
		if m == "resources/subscribe" {
			t.Errorf("resources/subscribe went to a 2026-07-28 server")
		}
	}
}

// TestListen_Reopens: a stream the server ends is opened again (with backoff); a server
// that does not know subscriptions/listen is not asked again.
func TestListen_Reopens(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		reopen bool // the stream is opened again; else the bridge stops asking
	}{
		{name: "ended stream", answer: `{"jsonrpc":"2.0","id":%s,"result":{}}`, reopen: true},
		{name: "method not found", answer: `{"jsonrpc":"2.0","id":%s,"error":{"code":-32601,"message":"no"}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var listens atomic.Int64
			wrap := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					body, _ := io.ReadAll(r.Body)
					r.Body = io.NopCloser(bytes.NewReader(body))
					var msg struct {
						ID     json.RawMessage `json:"id"`
						Method string          `json:"method"`
					}
					_ = json.Unmarshal(body, &msg)
					if msg.Method == "subscriptions/listen" {
						listens.Add(1)
						w.Header().Set("Content-Type", "application/json")
						_, _ = fmt.Fprintf(w, tc.answer, msg.ID)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
			ts := startHTTPServerWith(t, newTestMCPServer, wrap)
			b := openBridge(t, httpConfig(t, ts.URL))
			if b.ProtocolVersion() != "2026-07-28" {
				t.Fatalf("ProtocolVersion = %q, want 2026-07-28", b.ProtocolVersion())
			}
			if tc.reopen {
				testwait.For(t, 10*time.Second, func() error {
					if n := listens.Load(); n < 3 {
						return fmt.Errorf("the server saw %d subscriptions/listen, want it opened again (3)", n)
					}
					return nil
				})
			} else {
				// Parked: the loop waits for a new filter and asks nothing more until then.
				l := b.Upstream().(*rawUpstream).listen.Load()
				testwait.For(t, 10*time.Second, func() error {
					if l == nil || !l.parked.Load() {
						return errors.New("the listen loop did not stop asking")
					}
					return nil
				})
				if n := listens.Load(); n != 1 {
					t.Errorf("the server saw %d subscriptions/listen, want 1", n)
				}
			}
			c := dial(t, b.SocketPath())
			call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "still serving"}})
		})
	}
}
