package bridge

import (
	"net/http"
	"sync/atomic"
	"testing"
)

// TestNegotiation_RetriesRejectedVersion: a server that rejects the first request's
// version (HTTP 400, -32022, naming the versions it supports, as the conformance suite's
// request-metadata scenario does) is asked again with one of them, with MCP-Protocol-Version
// and _meta on that request and every later one, instead of falling back to initialize.
func TestNegotiation_RetriesRejectedVersion(t *testing.T) {
	rec := &recorder{}
	var rejected atomic.Bool
	reject := func(next http.Handler) http.Handler {
		recorded := rec.wrap(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && rejected.CompareAndSwap(false, true) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":1,"error":{"code":-32022,"message":"Unsupported protocol version",` +
					`"data":{"supported":["2026-07-28"],"requested":"2026-07-28"}}}`))
				return
			}
			recorded.ServeHTTP(w, r)
		})
	}
	ts := startHTTPServerWith(t, newTestMCPServer, reject)
	b := openBridge(t, httpConfig(t, ts.URL))
	if got := b.ProtocolVersion(); got != "2026-07-28" {
		t.Fatalf("ProtocolVersion = %q, want 2026-07-28 (server saw %v)", got, rec.methods())
	}
	c := dial(t, b.SocketPath())
	call(t, c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": "hi"}})
	rec.mu.Lock()
	seen := append([]seenRequest(nil), rec.seen...)
	rec.mu.Unlock()
	if len(seen) == 0 || seen[0].Method != "server/discover" {
		t.Fatalf("after the rejection the server saw %v, want server/discover first", methodsOf(seen))
	}
	for _, s := range seen {
		if s.Method == "initialize" {
			t.Errorf("the bridge fell back to initialize: %v", methodsOf(seen))
		}
		if got := s.Header.Get("Mcp-Protocol-Version"); got != "2026-07-28" {
			t.Errorf("%s: MCP-Protocol-Version = %q, want 2026-07-28", s.Method, got)
		}
		if meta := metaOf(t, s.Params); meta == nil {
			t.Errorf("%s: no _meta (params %s)", s.Method, s.Params)
		}
	}
}
