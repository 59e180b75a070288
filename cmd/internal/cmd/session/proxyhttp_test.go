package session

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// scriptedConn is one connection to a scripted bridge: the script reads what the proxy
// sent and writes what a bridge would.
type scriptedConn struct {
	nc net.Conn
	sc *bufio.Scanner
}

func (c *scriptedConn) send(line string) { _, _ = io.WriteString(c.nc, line+"\n") }

func (c *scriptedConn) next() (rpc.Message, bool) {
	for c.sc.Scan() {
		var m rpc.Message
		if json.Unmarshal(c.sc.Bytes(), &m) == nil {
			return m, true
		}
	}
	return rpc.Message{}, false
}

// scriptedBridge listens on a Unix socket like a bridge and runs script for every
// connection; it counts the connections.
type scriptedBridge struct {
	path  string
	dials atomic.Int32
}

func newScriptedBridge(t testing.TB, script func(c *scriptedConn)) *scriptedBridge {
	t.Helper()
	dir, err := os.MkdirTemp("", "hpb")
	if err != nil {
		t.Fatal(err)
	}
	b := &scriptedBridge{path: filepath.Join(dir, "b.sock")}
	ln, err := net.Listen("unix", b.path)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			b.dials.Add(1)
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				sc := bufio.NewScanner(nc)
				sc.Buffer(nil, 1<<20)
				script(&scriptedConn{nc: nc, sc: sc})
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
		os.RemoveAll(dir)
	})
	return b
}

func (b *scriptedBridge) dial(ctx context.Context) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", b.path)
}

// answerAll answers every request as a small MCP server would.
func answerAll(c *scriptedConn) {
	for {
		m, ok := c.next()
		if !ok {
			return
		}
		if m.ID == nil {
			continue
		}
		res, _ := mcpServer(m.Method, m.Params)
		b, _ := json.Marshal(res)
		c.send(string(rpc.AppendResult(nil, m.ID, b)[:len(rpc.AppendResult(nil, m.ID, b))-1]))
	}
}

func serveProxy(t *testing.T, p *httpProxy) string {
	t.Helper()
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL + mcpPath
}

type hreq struct {
	method, body string
	header       map[string]string
}

func do(t *testing.T, url string, r hreq) (*http.Response, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	req, err := http.NewRequest(r.method, url, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	if r.method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	}
	for k, v := range r.header {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{}},"clientInfo":{"name":"t","version":"1"}}}`

func initSession(t *testing.T, url string, header map[string]string) string {
	t.Helper()
	resp, body := do(t, url, hreq{body: initBody, header: header})
	sid := resp.Header.Get(headerSessionID)
	if resp.StatusCode != 200 || sid == "" || !strings.Contains(body, `"testserver"`) {
		t.Fatalf("initialize: %d, session %q, %s; want 200, a session id and the result", resp.StatusCode, sid, body)
	}
	return sid
}

func TestHTTPProxy_BearerToken(t *testing.T) {
	b := newScriptedBridge(t, answerAll)
	url := serveProxy(t, newHTTPProxy(b.dial, []byte("s3cret"), true))
	for what, auth := range map[string]string{"no header": "", "a wrong token": "Bearer s3creT", "a prefix": "Bearer s3cre",
		"a longer one": "Bearer s3cret0", "another scheme": "Basic s3cret", "no scheme": "s3cret"} {
		resp, _ := do(t, url, hreq{body: initBody, header: map[string]string{"Authorization": auth}})
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d, WWW-Authenticate %q; want 401, Bearer", what, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := b.dials.Load(); n != 0 {
		t.Errorf("refused requests reached the bridge (%d connections)", n)
	}
	initSession(t, url, map[string]string{"Authorization": "bearer s3cret"})
}

func TestHTTPProxy_LoopbackRefusesOtherOrigins(t *testing.T) {
	b := newScriptedBridge(t, answerAll)
	url := serveProxy(t, newHTTPProxy(b.dial, nil, true))
	for what, h := range map[string]map[string]string{
		"a web page's origin":     {"Origin": "http://evil.example"},
		"a rebound host name":     {"Host": "evil.example:8080"},
		"an origin of null":       {"Origin": "null"},
		"a localhost-like domain": {"Origin": "http://localhost.evil.example"},
	} {
		resp, _ := do(t, url, hreq{body: initBody, header: h})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s %v: %d, want 403", what, h, resp.StatusCode)
		}
	}
	initSession(t, url, map[string]string{"Origin": "http://localhost:3000"})
	initSession(t, url, map[string]string{"Origin": "http://127.0.0.1:3000", "Host": "localhost"})
	// A listener that is not loopback (its token protects it) does not judge origins.
	url = serveProxy(t, newHTTPProxy(b.dial, nil, false))
	initSession(t, url, map[string]string{"Origin": "http://elsewhere.example"})
}

func TestHTTPProxy_SessionsAndHeaders(t *testing.T) {
	b := newScriptedBridge(t, answerAll)
	url := serveProxy(t, newHTTPProxy(b.dial, nil, true))
	sid := initSession(t, url, nil)
	list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	t.Run("a request in the session is answered as JSON", func(t *testing.T) {
		resp, body := do(t, url, hreq{body: list, header: map[string]string{headerSessionID: sid, headerProtocol: "2025-11-25"}})
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || !strings.Contains(body, `"name":"a"`) || !strings.Contains(body, `"id":2`) {
			t.Errorf("tools/list: %d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	for _, c := range []struct {
		what   string
		r      hreq
		status int
		msg    string
	}{
		{"no session id", hreq{body: list}, 400, "send initialize first"},
		{"an unknown session id", hreq{body: list, header: map[string]string{headerSessionID: "nosuch"}}, 404, "unknown or ended MCP session"},
		{"an unsupported protocol version", hreq{body: list, header: map[string]string{headerSessionID: sid, headerProtocol: "1999-01-01"}}, 400, "unsupported MCP-Protocol-Version"},
		{"a batch", hreq{body: "[" + list + "]", header: map[string]string{headerSessionID: sid}}, 400, "batches are not supported"},
		{"not JSON", hreq{body: "{", header: map[string]string{headerSessionID: sid}}, 400, "not a JSON-RPC message"},
		{"not JSON-RPC 2.0", hreq{body: `{"id":3,"method":"ping"}`, header: map[string]string{headerSessionID: sid}}, 400, "not a JSON-RPC 2.0"},
		{"another content type", hreq{body: list, header: map[string]string{headerSessionID: sid, "Content-Type": "text/plain"}}, 415, "application/json"},
		{"PUT", hreq{method: http.MethodPut, body: list}, 405, "not an MCP transport method"},
		{"another path", hreq{body: list}, 404, "the MCP endpoint is /mcp"},
		{"an answer to no ask", hreq{body: `{"jsonrpc":"2.0","id":"ask-9","result":{}}`, header: map[string]string{headerSessionID: sid}}, 400, "is waiting for an answer"},
		{"GET without Accept: text/event-stream", hreq{method: http.MethodGet, header: map[string]string{headerSessionID: sid, "Accept": "application/json"}}, 406, "event stream"},
		{"DELETE without a session", hreq{method: http.MethodDelete}, 400, "needs the Mcp-Session-Id"},
		{"DELETE of an unknown session", hreq{method: http.MethodDelete, header: map[string]string{headerSessionID: "nosuch"}}, 404, "unknown"},
	} {
		u := url
		if c.what == "another path" {
			u = strings.TrimSuffix(url, mcpPath) + "/other"
		}
		resp, body := do(t, u, c.r)
		if resp.StatusCode != c.status || !strings.Contains(body, c.msg) {
			t.Errorf("%s: %d %s; want %d and %q", c.what, resp.StatusCode, body, c.status, c.msg)
		}
	}
	t.Run("a notification is accepted with 202", func(t *testing.T) {
		resp, body := do(t, url, hreq{body: `{"jsonrpc":"2.0","method":"notifications/initialized"}`, header: map[string]string{headerSessionID: sid}})
		if resp.StatusCode != http.StatusAccepted || body != "" {
			t.Errorf("notifications/initialized: %d %q, want 202 and no body", resp.StatusCode, body)
		}
	})
	t.Run("a 2026-07-28 request needs no session", func(t *testing.T) {
		resp, body := do(t, url, hreq{body: list, header: map[string]string{headerProtocol: "2026-07-28"}})
		if resp.StatusCode != 200 || !strings.Contains(body, `"name":"a"`) {
			t.Errorf("tools/list on 2026-07-28 without a session: %d %s", resp.StatusCode, body)
		}
	})
	t.Run("DELETE ends the session", func(t *testing.T) {
		resp, _ := do(t, url, hreq{method: http.MethodDelete, header: map[string]string{headerSessionID: sid}})
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE: %d, want 204", resp.StatusCode)
		}
		resp, _ = do(t, url, hreq{body: list, header: map[string]string{headerSessionID: sid}})
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("a request in the deleted session: %d, want 404", resp.StatusCode)
		}
	})
}

// sseEvents reads an event stream's data lines as they come.
func sseEvents(body io.Reader) <-chan rpc.Message {
	ch := make(chan rpc.Message, 16)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var m rpc.Message
				if json.Unmarshal([]byte(d), &m) == nil {
					ch <- m
				}
			}
		}
	}()
	return ch
}

func nextEvent(t *testing.T, ch <-chan rpc.Message) rpc.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("the event stream ended")
		}
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return rpc.Message{}
}

// TestHTTPProxy_CallStreamsProgressAndAsks: a call whose bridge sends progress and an ask
// before its answer is answered as an event stream; the client's POSTed answer to the ask
// reaches the bridge on that call's connection, and the client's capabilities went with
// the call.
func TestHTTPProxy_CallStreamsProgressAndAsks(t *testing.T) {
	var sentMeta atomic.Value
	b := newScriptedBridge(t, func(c *scriptedConn) {
		for {
			m, ok := c.next()
			if !ok {
				return
			}
			if m.Method != "tools/call" {
				if m.ID != nil {
					res, _ := mcpServer(m.Method, m.Params)
					rb, _ := json.Marshal(res)
					c.send(strings.TrimSuffix(string(rpc.AppendResult(nil, m.ID, rb)), "\n"))
				}
				continue
			}
			sentMeta.Store(string(m.Params))
			c.send(`{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":1}}`)
			c.send(`{"jsonrpc":"2.0","id":"ask-1","method":"roots/list"}`)
			a, ok := c.next()
			if !ok || string(a.ID) != `"ask-1"` {
				return
			}
			c.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"content":[{"type":"text","text":` + strconvQuote(string(a.Result)) + `}]}}`)
		}
	})
	url := serveProxy(t, newHTTPProxy(b.dial, nil, true))
	sid := initSession(t, url, nil)
	other := initSession(t, url, nil)
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"roots","_meta":{"progressToken":"p"}}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(headerSessionID, sid)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "text/event-stream" {
		t.Fatalf("tools/call with progress: %d %q, want 200 text/event-stream", resp.StatusCode, ct)
	}
	events := sseEvents(resp.Body)
	if m := nextEvent(t, events); m.Method != "notifications/progress" {
		t.Fatalf("first event %+v, want the progress", m)
	}
	ask := nextEvent(t, events)
	if ask.Method != "roots/list" || string(ask.ID) != `"ask-1"` {
		t.Fatalf("second event %+v, want the ask roots/list", ask)
	}
	answer := `{"jsonrpc":"2.0","id":"ask-1","result":{"roots":[{"uri":"file:///x"}]}}`
	// Another MCP session cannot answer this one's ask.
	if r, body := do(t, url, hreq{body: answer, header: map[string]string{headerSessionID: other}}); r.StatusCode != 400 {
		t.Errorf("the ask answered from another session: %d %s, want 400", r.StatusCode, body)
	}
	if r, body := do(t, url, hreq{body: answer, header: map[string]string{headerSessionID: sid}}); r.StatusCode != http.StatusAccepted {
		t.Fatalf("the answer to the ask: %d %s, want 202", r.StatusCode, body)
	}
	final := nextEvent(t, events)
	if string(final.ID) != "5" || !strings.Contains(string(final.Result), `file:///x`) {
		t.Errorf("last event %s %s, want the answer to 5 carrying the client's roots", final.ID, final.Result)
	}
	if meta, _ := sentMeta.Load().(string); !strings.Contains(meta, `"`+rpc.MetaClientCapabilities+`":{"roots":{}}`) || !strings.Contains(meta, `"progressToken":"p"`) {
		t.Errorf("the call reached the bridge with params %s, want the client's capabilities and its own _meta", meta)
	}
}

func strconvQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

// TestHTTPProxy_ClientGoneCancelsTheCall: a client that hangs up during a call makes the
// proxy send notifications/cancelled for it to the bridge.
func TestHTTPProxy_ClientGoneCancelsTheCall(t *testing.T) {
	cancelled := make(chan string, 1)
	started := make(chan struct{}, 1)
	b := newScriptedBridge(t, func(c *scriptedConn) {
		for {
			m, ok := c.next()
			if !ok {
				return
			}
			switch {
			case m.Method == "initialize":
				c.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"protocolVersion":"2025-11-25"}}`)
			case m.Method == "tools/call":
				started <- struct{}{}
			case m.Method == "notifications/cancelled":
				cancelled <- string(m.Params)
			}
		}
	})
	url := serveProxy(t, newHTTPProxy(b.dial, nil, true))
	resp, _ := do(t, url, hreq{body: initBody})
	sid := resp.Header.Get(headerSessionID)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":"slow","method":"tools/call","params":{"name":"sleep"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(headerSessionID, sid)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the call did not reach the bridge")
	}
	cancel()
	<-done
	select {
	case p := <-cancelled:
		if !strings.Contains(p, `"requestId":"slow"`) {
			t.Errorf("notifications/cancelled %s, want requestId slow", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the bridge got no notifications/cancelled after the client hung up")
	}
}

// TestHTTPProxy_GetStreamCarriesServerNotifications: GET opens the session's standalone
// stream: its bridge connection initializes (which is what makes a bridge send server
// notifications) and what the bridge sends comes out as events; a second GET replaces it.
func TestHTTPProxy_GetStreamCarriesServerNotifications(t *testing.T) {
	var inits atomic.Int32
	b := newScriptedBridge(t, func(c *scriptedConn) {
		for {
			m, ok := c.next()
			if !ok {
				return
			}
			if m.Method == "initialize" {
				c.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"protocolVersion":"2025-11-25"}}`)
				if string(m.ID) == `"stream"` {
					inits.Add(1)
					c.send(`{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}`)
				}
			}
		}
	})
	url := serveProxy(t, newHTTPProxy(b.dial, nil, true))
	resp, _ := do(t, url, hreq{body: initBody})
	sid := resp.Header.Get(headerSessionID)
	open := func() (*http.Response, <-chan rpc.Message) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		req.Header.Set(headerSessionID, sid)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("GET: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		return resp, sseEvents(resp.Body)
	}
	_, first := open()
	if m := nextEvent(t, first); m.Method != "notifications/tools/list_changed" || m.ID != nil {
		t.Fatalf("GET stream event %+v, want the server notification", m)
	}
	_, second := open()
	if m := nextEvent(t, second); m.Method != "notifications/tools/list_changed" {
		t.Fatalf("second GET stream event %+v", m)
	}
	testwait.For(t, 10*time.Second, func() error {
		select {
		case _, ok := <-first:
			if !ok {
				return nil
			}
		default:
		}
		return errString("the first GET stream is still open after a second one")
	})
	if n := inits.Load(); n != 2 {
		t.Errorf("the bridge saw %d stream connections initialize, want 2", n)
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// TestHTTPProxy_SessionlessClientsShareNoIDs: two 2026-07-28 clients (no MCP session) may
// use the same request id at the same time; each gets its own answer.
func TestHTTPProxy_SessionlessClientsShareNoIDs(t *testing.T) {
	var mu sync.Mutex
	waiting := 0
	both := make(chan struct{})
	b := newScriptedBridge(t, func(c *scriptedConn) {
		m, ok := c.next()
		if !ok {
			return
		}
		mu.Lock()
		if waiting++; waiting == 2 {
			close(both)
		}
		mu.Unlock()
		select {
		case <-both:
		case <-time.After(10 * time.Second):
		}
		var p struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal(m.Params, &p)
		c.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"content":[{"type":"text","text":"` + p.Name + `"}]}}`)
	})
	url := serveProxy(t, newHTTPProxy(b.dial, nil, true))
	var wg sync.WaitGroup
	got := make([]string, 2)
	for i, name := range []string{"first", "second"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := do(t, url, hreq{body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"` + name + `"}}`,
				header: map[string]string{headerProtocol: "2026-07-28"}})
			got[i] = strconv.Itoa(resp.StatusCode) + " " + body
		}()
	}
	wg.Wait()
	for i, name := range []string{"first", "second"} {
		if !strings.HasPrefix(got[i], "200 ") || !strings.Contains(got[i], `"text":"`+name+`"`) {
			t.Errorf("sessionless call %s with id 1: %s, want 200 and its own answer", name, got[i])
		}
	}
}

// askingBridge answers initialize, and answers each tools/call only after asking its
// client (roots/list, under an id unique across connections as a bridge's are) and
// echoing the client's answer back as the call's text.
func askingBridge(t *testing.T) *scriptedBridge {
	var seq atomic.Int64
	return newScriptedBridge(t, func(c *scriptedConn) {
		for {
			m, ok := c.next()
			if !ok {
				return
			}
			switch m.Method {
			case "initialize":
				c.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"protocolVersion":"2025-11-25","serverInfo":{"name":"testserver"}}}`)
			case "tools/call":
				askID := `"ask-` + strconv.FormatInt(seq.Add(1), 10) + `"`
				c.send(`{"jsonrpc":"2.0","id":` + askID + `,"method":"roots/list"}`)
				a, ok := c.next()
				if !ok || string(a.ID) != askID {
					return
				}
				c.send(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"content":[{"type":"text","text":` + strconvQuote(string(a.Result)) + `}]}}`)
			}
		}
	})
}

// TestHTTPProxy_ConcurrentCallsGetTheirOwnAsks: many calls of one MCP session in flight at
// once, each asked by the server; each answer reaches the call that was asked.
func TestHTTPProxy_ConcurrentCallsGetTheirOwnAsks(t *testing.T) {
	b := askingBridge(t)
	url := serveProxy(t, newHTTPProxy(b.dial, nil, true))
	sid := initSession(t, url, nil)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan string, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"jsonrpc":"2.0","id":`+strconv.Itoa(i)+`,"method":"tools/call","params":{"name":"roots"}}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set(headerSessionID, sid)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer resp.Body.Close()
			events := sseEvents(resp.Body)
			ask, ok := <-events
			if !ok || ask.Method != "roots/list" {
				errs <- "call " + strconv.Itoa(i) + ": no ask"
				return
			}
			mine := `{"roots":[{"uri":"file:///call/` + strconv.Itoa(i) + `"}]}`
			r, body := do(t, url, hreq{body: `{"jsonrpc":"2.0","id":` + string(ask.ID) + `,"result":` + mine + `}`, header: map[string]string{headerSessionID: sid}})
			if r.StatusCode != http.StatusAccepted {
				errs <- "answer of call " + strconv.Itoa(i) + ": " + body
				return
			}
			final, ok := <-events
			if !ok || string(final.ID) != strconv.Itoa(i) || !strings.Contains(string(final.Result), `file:///call/`+strconv.Itoa(i)+`\"`) {
				errs <- "call " + strconv.Itoa(i) + " answered " + string(final.Result)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// BenchmarkHTTPProxy_Call is the proxy's cost of one call: an HTTP POST, a Unix connection
// to the bridge, one line each way (the scripted bridge answers at once).
func BenchmarkHTTPProxy_Call(b *testing.B) {
	br := newScriptedBridge(b, answerAll)
	p := newHTTPProxy(br.dial, nil, true)
	srv := httptest.NewServer(p)
	defer srv.Close()
	url := srv.URL + mcpPath
	body := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
	b.ResetTimer()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(headerProtocol, "2026-07-28")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
	}
}

func TestHTTPProxy_Refuses(t *testing.T) {
	t.Run("another node's session: exit 1 before anything listens", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdProxy, "", "proxy", "@s@n2", "--listen", "127.0.0.1:0")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "proxy --listen serves this node's sessions; @s@n2 is another node's") {
			t.Errorf("proxy @s@n2 --listen: exit %d, stderr %q; want 1, this node's sessions", r.Code, r.ErrOut)
		}
	})
	t.Run("an unknown session: exit 1, not found", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdProxy, "", "proxy", "@nosuch", "--listen", "127.0.0.1:0")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@nosuch: not found") || r.Out != "" {
			t.Errorf("proxy @nosuch --listen: exit %d, stdout %q, stderr %q; want 1, not found", r.Code, r.Out, r.ErrOut)
		}
	})
}
