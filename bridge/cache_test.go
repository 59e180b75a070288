package bridge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// fakeClock is a clock the tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (f *fakeClock) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.t = f.t.Add(d)
	f.mu.Unlock()
}

// countingUpstream answers every request with answer(method, params) and counts the
// requests per method.
type countingUpstream struct {
	*funcUpstream
	mu    sync.Mutex
	count map[string]int
}

func newCountingUpstream(answer func(method string, params json.RawMessage) (json.RawMessage, error)) *countingUpstream {
	u := &countingUpstream{count: map[string]int{}}
	u.funcUpstream = newFuncUpstream(func(_ context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		u.mu.Lock()
		u.count[method]++
		u.mu.Unlock()
		return answer(method, params)
	})
	return u
}

func (u *countingUpstream) n(method string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.count[method]
}

// cacheableList answers every list with a page that carries ttlMs (60 s) and names the
// method, the cursor and how many times it was asked.
func cacheableList() *countingUpstream {
	var mu sync.Mutex
	seq := 0
	return newCountingUpstream(func(method string, params json.RawMessage) (json.RawMessage, error) {
		var p struct {
			Cursor string `json:"cursor"`
		}
		_ = json.Unmarshal(params, &p)
		mu.Lock()
		seq++
		n := seq
		mu.Unlock()
		return json.RawMessage(fmt.Sprintf(`{"items":[{"method":%q,"cursor":%q,"n":%d}], "ttlMs":60000,"cacheScope":"private","resultType":"complete"}`,
			method, p.Cursor, n)), nil
	})
}

func cacheServer(t *testing.T, up Upstream) (*Server, *rpc.Client, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	s := listenServer(t, up, filepath.Join(socketDir(t), "c.sock"), func(s *Server) { s.cache.setClock(clock.now) })
	return s, dial(t, s.Path()), clock
}

// TestCache_WarmListFromCache: a list result with ttlMs is answered from the cache (the
// upstream is not asked again) until its ttl ends, and again after a
// notifications/tools/list_changed drops it.
func TestCache_WarmListFromCache(t *testing.T) {
	up := cacheableList()
	s, c, clock := cacheServer(t, up)

	first := call(t, c, "tools/list", nil)
	if got := call(t, c, "tools/list", nil); string(got) != string(first) || up.n("tools/list") != 1 {
		t.Fatalf("warm tools/list: %d upstream requests, answer %s (first %s); want 1 and the same", up.n("tools/list"), got, first)
	}
	clock.advance(59 * time.Second)
	call(t, c, "tools/list", json.RawMessage(`{}`))
	if n := up.n("tools/list"); n != 1 {
		t.Fatalf("tools/list within ttl: %d upstream requests, want 1", n)
	}
	clock.advance(time.Second) // ttl (60 s) over
	if got := call(t, c, "tools/list", nil); string(got) == string(first) || up.n("tools/list") != 2 {
		t.Fatalf("tools/list after ttl: %d upstream requests, answer %s; want 2 and a new answer", up.n("tools/list"), got)
	}
	call(t, c, "tools/list", nil)
	if n := up.n("tools/list"); n != 2 {
		t.Fatalf("refreshed tools/list not cached: %d upstream requests, want 2", n)
	}
	s.Notify("notifications/tools/list_changed", json.RawMessage(`{}`))
	call(t, c, "tools/list", nil)
	call(t, c, "tools/list", nil)
	if n := up.n("tools/list"); n != 3 {
		t.Fatalf("tools/list after list_changed: %d upstream requests, want 3", n)
	}
}

// TestCache_OnlyWhatTheServerMarks: results without ttlMs (every server before
// 2026-07-28), with ttlMs 0 (mcp-go's default: stale at once), incomplete results, unknown
// scopes, errors, requests with other params, and methods that are not lists all go to the
// upstream every time.
func TestCache_OnlyWhatTheServerMarks(t *testing.T) {
	for _, tc := range []struct {
		name, method, params, answer string
		fail                         bool
	}{
		{name: "no ttlMs", method: "tools/list", answer: `{"tools":[]}`},
		{name: "ttlMs 0", method: "tools/list", answer: `{"tools":[],"ttlMs":0,"cacheScope":"public"}`},
		{name: "negative ttlMs", method: "prompts/list", answer: `{"prompts":[],"ttlMs":-5}`},
		{name: "input_required", method: "tools/list", answer: `{"resultType":"input_required","ttlMs":60000}`},
		{name: "unknown scope", method: "tools/list", answer: `{"tools":[],"ttlMs":60000,"cacheScope":"shared-by-all"}`},
		{name: "not an object", method: "tools/list", answer: `[1,2]`},
		{name: "error", method: "tools/list", fail: true},
		{name: "other params", method: "resources/list", params: `{"cursor":"x","filter":"y"}`, answer: `{"resources":[],"ttlMs":60000}`},
		{name: "resources/read", method: "resources/read", params: `{"uri":"a://b"}`, answer: `{"contents":[],"ttlMs":60000}`},
		{name: "server/discover", method: "server/discover", answer: `{"ttlMs":60000}`},
		{name: "tools/call", method: "tools/call", params: `{"name":"x"}`, answer: `{"content":[],"ttlMs":60000}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newCountingUpstream(func(string, json.RawMessage) (json.RawMessage, error) {
				if tc.fail {
					return nil, &rpc.RPCError{Code: -32000, Message: "no"}
				}
				return json.RawMessage(tc.answer), nil
			})
			_, c, _ := cacheServer(t, up)
			var params json.RawMessage
			if tc.params != "" {
				params = json.RawMessage(tc.params)
			}
			for range 3 {
				_, _ = callErr(c, tc.method, params)
			}
			if n := up.n(tc.method); n != 3 {
				t.Fatalf("%s: %d upstream requests for 3 calls, want 3 (not cached)", tc.method, n)
			}
		})
	}
}

// TestCache_PerPage: every page (cursor) is an entry of its own; a request's _meta does not
// change its key.
func TestCache_PerPage(t *testing.T) {
	up := cacheableList()
	_, c, _ := cacheServer(t, up)
	p1 := call(t, c, "resources/list", nil)
	p2 := call(t, c, "resources/list", json.RawMessage(`{"cursor":"page-2"}`))
	if string(p1) == string(p2) || up.n("resources/list") != 2 {
		t.Fatalf("two pages: %d upstream requests (%s, %s), want 2 and two answers", up.n("resources/list"), p1, p2)
	}
	if got := call(t, c, "resources/list", json.RawMessage(`{"cursor":"page-2","_meta":{"progressToken":1}}`)); string(got) != string(p2) {
		t.Errorf("page 2 again = %s, want the cached %s", got, p2)
	}
	if got := call(t, c, "resources/list", json.RawMessage(`{"cursor":null}`)); string(got) != string(p1) {
		t.Errorf("page 1 again = %s, want the cached %s", got, p1)
	}
	if n := up.n("resources/list"); n != 2 {
		t.Errorf("warm pages: %d upstream requests, want 2", n)
	}
}

// TestCache_ListChangedDropsItsLists: each list-changed notification drops the lists it is
// about and no other: resources/list_changed covers resources/list and
// resources/templates/list.
func TestCache_ListChangedDropsItsLists(t *testing.T) {
	lists := []string{"tools/list", "prompts/list", "resources/list", "resources/templates/list"}
	for _, tc := range []struct {
		notification string
		dropped      []string
	}{
		{"notifications/tools/list_changed", []string{"tools/list"}},
		{"notifications/prompts/list_changed", []string{"prompts/list"}},
		{"notifications/resources/list_changed", []string{"resources/list", "resources/templates/list"}},
		{"notifications/resources/updated", nil},
		{"notifications/message", nil},
	} {
		t.Run(tc.notification, func(t *testing.T) {
			up := cacheableList()
			s, c, _ := cacheServer(t, up)
			for _, m := range lists {
				call(t, c, m, nil)
			}
			s.Notify(tc.notification, json.RawMessage(`{}`))
			for _, m := range lists {
				call(t, c, m, nil)
				want := 1
				for _, d := range tc.dropped {
					if d == m {
						want = 2
					}
				}
				if n := up.n(m); n != want {
					t.Errorf("%s after %s: %d upstream requests, want %d", m, tc.notification, n, want)
				}
			}
		})
	}
}

// TestCache_ChangeDuringFetch: a list whose request was sent before a list-changed
// notification (or a flush) may predate the change: it is answered but not stored.
func TestCache_ChangeDuringFetch(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Server)
	}{
		{"list_changed", func(s *Server) { s.Notify("notifications/tools/list_changed", nil) }},
		{"flush", func(s *Server) { s.cache.flush() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			asked := make(chan struct{}, 1)
			var mu sync.Mutex
			n := 0
			up := newCountingUpstream(func(string, json.RawMessage) (json.RawMessage, error) {
				mu.Lock()
				n++
				first := n == 1
				mu.Unlock()
				if first {
					asked <- struct{}{}
					<-release
				}
				return json.RawMessage(`{"tools":[],"ttlMs":60000}`), nil
			})
			s, c, _ := cacheServer(t, up)
			done := make(chan error, 1)
			go func() {
				_, err := callErr(c, "tools/list", nil)
				done <- err
			}()
			<-asked
			tc.change(s)
			close(release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			call(t, c, "tools/list", nil)
			call(t, c, "tools/list", nil)
			if got := up.n("tools/list"); got != 2 {
				t.Fatalf("%d upstream requests, want 2: the list fetched across the change is not stored, the next one is", got)
			}
		})
	}
}

// TestCache_AnswerVerbatim: a cached answer is the upstream's result bytes under the id of
// the request it answers.
func TestCache_AnswerVerbatim(t *testing.T) {
	result := `{"tools":[{"name":"z","inputSchema":{"type":"object"}},{"name":"a"}],"nextCursor":"n","ttlMs":5000,"cacheScope":"public","_meta":{"x":1}}`
	up := newCountingUpstream(func(string, json.RawMessage) (json.RawMessage, error) {
		return json.RawMessage(result), nil
	})
	s, _, _ := cacheServer(t, up)
	nc, err := net.Dial("unix", s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	for _, id := range []string{`"first"`, `7`, `"third"`} {
		if _, err := fmt.Fprintf(nc, `{"jsonrpc":"2.0","id":%s,"method":"tools/list"}`+"\n", id); err != nil {
			t.Fatal(err)
		}
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if want := `{"jsonrpc":"2.0","id":` + id + `,"result":` + result + "}\n"; line != want {
			t.Errorf("answer to %s:\n got %s\nwant %s", id, line, want)
		}
	}
	if n := up.n("tools/list"); n != 1 {
		t.Errorf("%d upstream requests, want 1", n)
	}
}

// TestCache_Bounds: the entries beyond the cache's bounds are not stored; expired ones make
// room.
func TestCache_Bounds(t *testing.T) {
	c := newListCache()
	clock := newFakeClock()
	c.setClock(clock.now)
	page := json.RawMessage(`{"tools":[],"ttlMs":1000}`)
	for i := range cacheMaxEntries {
		k, _ := c.key("tools/list", json.RawMessage(fmt.Sprintf(`{"cursor":"%d"}`, i)))
		if !c.put(c.begin(k), page) {
			t.Fatalf("entry %d not stored", i)
		}
	}
	k, _ := c.key("tools/list", json.RawMessage(`{"cursor":"one too many"}`))
	if c.put(c.begin(k), page) {
		t.Fatal("an entry beyond cacheMaxEntries was stored")
	}
	clock.advance(time.Second)
	if !c.put(c.begin(k), page) {
		t.Fatal("expired entries did not make room")
	}
	if c.bytes != len(page) || len(c.entries) != 1 {
		t.Errorf("after pruning: %d entries, %d bytes; want 1, %d", len(c.entries), c.bytes, len(page))
	}
	c.bytes = cacheMaxBytes - len(page) + 1 // as if full of live pages
	k2, _ := c.key("prompts/list", nil)
	if c.put(c.begin(k2), page) {
		t.Error("an entry beyond cacheMaxBytes was stored")
	}
}

// cacheTestServer is a 2026-07-28 (and older) Streamable HTTP server that counts the
// tools/list requests it serves; ttl, when set, marks its tools/list results cacheable.
func cacheTestServer(t *testing.T, ttl time.Duration) (*testHTTPServer, *atomic.Int64, *atomic.Pointer[server.MCPServer]) {
	t.Helper()
	var lists atomic.Int64
	var srv atomic.Pointer[server.MCPServer]
	mk := func(*atomic.Int64, bool) *server.MCPServer {
		hooks := &server.Hooks{}
		hooks.AddBeforeListTools(func(context.Context, any, *mcp.ListToolsRequest) { lists.Add(1) })
		opts := []server.ServerOption{server.WithToolCapabilities(true), server.WithHooks(hooks)}
		if ttl > 0 {
			opts = append(opts, server.WithMethodCacheHints(mcp.MethodToolsList, ttl.Milliseconds(), mcp.CacheScopePrivate))
		}
		s := server.NewMCPServer("cache-test", "1.0.0", opts...)
		s.AddTool(mcp.NewTool("echo", mcp.WithString("text")),
			func(_ context.Context, r mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText(r.GetString("text", "")), nil
			})
		srv.Store(s)
		return s
	}
	return startHTTPServerWith(t, mk, nil), &lists, &srv
}

// waitListening waits until the server acknowledged the bridge's subscriptions/listen.
func waitListening(t *testing.T, b *Bridge) {
	t.Helper()
	u := b.Upstream().(*rawUpstream)
	testwait.For(t, 10*time.Second, func() error {
		if l := u.listen.Load(); l != nil {
			l.mu.Lock()
			acked := l.acked != nil
			l.mu.Unlock()
			if acked {
				return nil
			}
		}
		return errors.New("subscriptions/listen was not acknowledged")
	})
}

func toolNames(t *testing.T, res json.RawMessage) []string {
	t.Helper()
	var r struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
		TTLMs *int64 `json:"ttlMs"`
	}
	if err := json.Unmarshal(res, &r); err != nil {
		t.Fatalf("not a tools/list result: %s", res)
	}
	var names []string
	for _, tool := range r.Tools {
		names = append(names, tool.Name)
	}
	return names
}

// TestCache_HTTP2026: against mcp-go's 2026-07-28 server with ttlMs on tools/list, a warm
// tools/list through the bridge makes no upstream request (counted by the server); one
// after the ttl does, one after the server's tools/list_changed does (and sees the new
// tool), and one after the listen stream is acknowledged again does.
func TestCache_HTTP2026(t *testing.T) {
	ts, lists, mcpSrv := cacheTestServer(t, time.Minute)
	var changed atomic.Int64
	cfg := httpConfig(t, ts.URL)
	cfg.OnNotification = func(method string, _ json.RawMessage) {
		if method == mcp.MethodNotificationToolsListChanged {
			changed.Add(1)
		}
	}
	b := openBridge(t, cfg)
	if b.ProtocolVersion() != "2026-07-28" {
		t.Fatalf("ProtocolVersion = %q, want 2026-07-28", b.ProtocolVersion())
	}
	clock := newFakeClock()
	b.srv.Load().cache.setClock(clock.now)
	waitListening(t, b)
	c := dial(t, b.SocketPath())
	expect := func(step string, want int64) json.RawMessage {
		t.Helper()
		res := call(t, c, "tools/list", nil)
		if n := lists.Load(); n != want {
			t.Fatalf("%s: the server served %d tools/list, want %d", step, n, want)
		}
		return res
	}

	cold := expect("cold", 1)
	if !bytes.Contains(cold, []byte(`"ttlMs":60000`)) {
		t.Fatalf("the server's tools/list has no ttlMs 60000: %s", cold)
	}
	if warm := expect("warm", 1); string(warm) != string(cold) {
		t.Errorf("warm answer = %s, want the cold one verbatim %s", warm, cold)
	}
	clock.advance(time.Minute)
	expect("after the ttl", 2)
	expect("warm again", 2)

	mcpSrv.Load().AddTool(mcp.NewTool("late"), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText("late"), nil
	})
	testwait.For(t, 10*time.Second, func() error {
		if changed.Load() == 0 {
			return errors.New("no notifications/tools/list_changed reached the bridge")
		}
		return nil
	})
	if names := toolNames(t, expect("after tools/list_changed", 3)); !slices.Contains(names, "late") {
		t.Errorf("tools after list_changed = %v, want late among them", names)
	}
	expect("warm after the refresh", 3)

	// The listen stream opened again (here: its acknowledgement seen again) starts over.
	b.Upstream().(*rawUpstream).acknowledged(json.RawMessage(`{"notifications":{"toolsListChanged":true}}`))
	expect("after the listen stream was acknowledged again", 4)
	expect("warm after that", 4)
}

// TestCache_HTTP2026WithoutTTL: mcp-go's default hints (ttlMs 0: stale at once) and a
// server before 2026-07-28 (no hints at all) are asked for every tools/list.
func TestCache_HTTP2026WithoutTTL(t *testing.T) {
	for _, tc := range []struct {
		name     string
		protocol string
	}{
		{"2026-07-28 ttlMs 0", ""},
		{"2025-11-25", "2025-11-25"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, lists, _ := cacheTestServer(t, 0)
			cfg := httpConfig(t, ts.URL)
			cfg.Protocol = tc.protocol
			b := openBridge(t, cfg)
			c := dial(t, b.SocketPath())
			for i := range 3 {
				call(t, c, "tools/list", nil)
				if n := lists.Load(); n != int64(i+1) {
					t.Fatalf("tools/list %d: the server served %d, want %d (never cached)", i+1, n, i+1)
				}
			}
		})
	}
}

// BenchmarkCache_WarmToolsList compares a warm tools/list, answered from the bridge's cache,
// with a ping (on 2026-07-28 a server/discover round trip), against mcp-go's 2026-07-28
// Streamable HTTP server marking tools/list cacheable. Target: the list is no slower.
func BenchmarkCache_WarmToolsList(b *testing.B) {
	s := server.NewMCPServer("cache-bench", "1.0.0", server.WithToolCapabilities(true),
		server.WithMethodCacheHints(mcp.MethodToolsList, time.Hour.Milliseconds(), mcp.CacheScopePrivate))
	for i := range 20 {
		s.AddTool(mcp.NewTool(fmt.Sprintf("tool-%02d", i), mcp.WithString("text")),
			func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) { return nil, nil })
	}
	ts := httptest.NewServer(server.NewStreamableHTTPServer(s))
	defer ts.Close()
	dir, err := os.MkdirTemp("", "mbc")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	br := New(Config{Session: "bench", Server: events.Server{Transport: events.TransportHTTP, URL: ts.URL + "/mcp"},
		SocketPath: filepath.Join(dir, "c.sock"), PingInterval: -1})
	if err := br.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer br.Close(context.Background())
	c, err := rpc.Dial(context.Background(), br.SocketPath())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	for _, method := range []string{"ping", "tools/list"} {
		if _, err := c.Call(ctx, method, nil); err != nil { // warm
			b.Fatal(err)
		}
		b.Run(method, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Call(ctx, method, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
