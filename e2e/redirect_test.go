package e2e

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRedirect_ToAnotherOriginIsRefusedWithTheHeadersKeptHome: the MCP URL answers 307 to a
// server on another port (another origin) that would accept the -H header. The bridge must
// not follow it with the header: connect fails saying why, and the other server never sees
// a request.
func TestRedirect_ToAnotherOriginIsRefusedWithTheHeadersKeptHome(t *testing.T) {
	t.Parallel()
	e := shared(t)
	key := "redirected-key-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	target, _ := startHTTPServer(t, "--require-header", "X-Api-Key="+key)

	// The other origin, seen through a counting proxy in front of the test server.
	var reached atomic.Int64
	other := listenHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		http.Redirect(w, r, target, http.StatusTemporaryRedirect) // would end at the real server
	}))
	first := listenHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other+"/mcp", http.StatusTemporaryRedirect)
	}))

	name := uniqueName(t)
	r := e.run("connect", first+"/mcp", "@"+name, "-H", "X-Api-Key: "+key)
	if r.Code == 0 {
		e.run("close", "@"+name)
		t.Fatalf("connect through a redirect to another origin succeeded:\n%s", r)
	}
	if !strings.Contains(r.Stderr, "redirect to another origin refused") || !strings.Contains(r.Stderr, other) {
		t.Errorf("connect does not say the redirect to %s was refused:\n%s", other, r)
	}
	if strings.Contains(r.Stderr, key) {
		t.Errorf("the error repeats the header value:\n%s", r)
	}
	if n := reached.Load(); n != 0 {
		t.Errorf("the other origin got %d requests, want none", n)
	}
}

// listenHTTP serves h on a fresh 127.0.0.1 port until the test ends and returns its base URL.
func listenHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}
