package main

import (
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"github.com/mark3labs/mcp-go/server"
)

// JSON-RPC error codes the guard answers with.
const (
	codeSessionNotFound = -32001
	codeBadRequest      = -32000
)

// httpGuard sits in front of the MCP HTTP handler and injects the failure
// modes tests ask for: a missing or wrong required header (401), and sessions
// that the server "forgets" after a number of requests (404, or 400 like some
// servers in the wild).
type httpGuard struct {
	next         http.Handler
	required     []headerRequirement
	query        []headerRequirement // URL query parameters every request must carry
	expireAfter  int                 // 0: sessions never expire
	expireStatus int                 // http.StatusNotFound or http.StatusBadRequest

	mu    sync.Mutex
	posts map[string]int // session id → POSTs served after initialize
}

func (g *httpGuard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	for _, req := range g.required {
		if r.Header.Get(req.name) != req.value {
			w.Header().Set("WWW-Authenticate", `Bearer realm="mcptestserver"`)
			http.Error(w, "unauthorized: missing or wrong "+req.name+" header", http.StatusUnauthorized)
			return
		}
	}
	for _, req := range g.query {
		if r.URL.Query().Get(req.name) != req.value {
			http.Error(w, "unauthorized: missing or wrong "+req.name+" query parameter", http.StatusUnauthorized)
			return
		}
	}
	if g.expireAfter > 0 {
		if sid := r.Header.Get(server.HeaderKeySessionID); sid != "" && !g.admit(sid, r.Method == http.MethodPost) {
			g.rejectSession(w, r)
			return
		}
	}
	g.next.ServeHTTP(w, r)
}

// admit reports whether the session may still be served, and counts a POST.
// The initialize request carries no session id yet; it is the session's first
// request, so a session has served 1+posts requests.
func (g *httpGuard) admit(sid string, post bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if 1+g.posts[sid] >= g.expireAfter {
		return false
	}
	if post {
		g.posts[sid]++
	}
	return true
}

func (g *httpGuard) rejectSession(w http.ResponseWriter, r *http.Request) {
	var id any
	if r.Method == http.MethodPost {
		var msg struct {
			ID any `json:"id"`
		}
		if b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20)); err == nil && json.Unmarshal(b, &msg) == nil {
			id = msg.ID
		}
	}
	code, message := codeSessionNotFound, "Session not found"
	if g.expireStatus == http.StatusBadRequest {
		code, message = codeBadRequest, "Bad Request: unknown session id"
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0",
		"id":      id,
		"error":   map[string]any{"code": code, "message": message},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(g.expireStatus)
	_, _ = w.Write(body)
}
