package bridge

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// headerLog records the secret header and the Referer of every request a server got.
type headerLog struct {
	mu   sync.Mutex
	seen []string
}

func (l *headerLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.seen = append(l.seen, r.Method+" "+r.URL.Path+" key="+r.Header.Get("X-Api-Key")+" referer="+r.Header.Get("Referer"))
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *headerLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// serve runs h on 127.0.0.1 (a port of its own: an origin of its own) until the test ends.
func serve(t *testing.T, h http.Handler) string {
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

func TestHTTP_RedirectToAnotherOriginIsRefusedAndCarriesNoHeaders(t *testing.T) {
	const secret = "key-that-must-stay-home"
	var other headerLog
	otherURL := serve(t, other.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not here", http.StatusNotFound)
	})))
	var first headerLog
	firstURL := serve(t, first.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL+"/mcp?from=redirect", http.StatusTemporaryRedirect)
	})))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up, err := DialHTTP(ctx, HTTPOptions{URL: firstURL + "/mcp?api_key=" + secret, Headers: map[string]string{"X-Api-Key": secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close(context.Background(), CloseOptions{})
	_, err = up.Initialize(ctx)
	if err == nil {
		t.Fatal("initialize through a cross-origin redirect succeeded, want it refused")
	}
	if !strings.Contains(err.Error(), ErrCrossOriginRedirect.Error()) || !strings.Contains(err.Error(), otherURL) {
		t.Errorf("error = %v, want it to say the redirect to %s was refused", err, otherURL)
	}
	if got := other.all(); len(got) != 0 {
		t.Errorf("the other origin received %d requests (%v), want none", len(got), got)
	}
	if got := first.all(); len(got) == 0 || !strings.Contains(got[0], "key="+secret) {
		t.Errorf("the first origin saw %v, want the request with its header (the probe must see the header where it belongs)", got)
	}
}

func TestHTTP_RedirectWithinTheOriginKeepsHeaders(t *testing.T) {
	const secret = "key-for-this-origin"
	mcp := startHTTPServer(t)
	var seen headerLog
	// One server: /old redirects to /mcp, which proxies to the MCP test server's handler.
	mux := http.NewServeMux()
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/mcp", http.StatusTemporaryRedirect)
	})
	mux.Handle("/mcp", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != secret {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		proxy(t, mcp.URL, w, r)
	}))
	base := serve(t, seen.wrap(mux))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	up, err := DialHTTP(ctx, HTTPOptions{URL: base + "/old?api_key=" + secret, Headers: map[string]string{"X-Api-Key": secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close(context.Background(), CloseOptions{})
	if _, err := up.Initialize(ctx); err != nil {
		t.Fatalf("initialize through a same-origin redirect: %v (requests: %v)", err, seen.all())
	}
	var redirected bool
	for _, s := range seen.all() {
		if strings.HasPrefix(s, "POST /mcp ") {
			redirected = true
			if !strings.Contains(s, "key="+secret) {
				t.Errorf("%s: the header was dropped on a same-origin redirect", s)
			}
			if strings.Contains(s, "api_key") {
				t.Errorf("%s: a Referer with the query went along", s)
			}
		}
	}
	if !redirected {
		t.Fatalf("no POST reached /mcp through the redirect: %v", seen.all())
	}
}

// proxy forwards one request to url (the in-process MCP server), streaming the answer.
func proxy(t *testing.T, url string, w http.ResponseWriter, r *http.Request) {
	req, err := http.NewRequestWithContext(r.Context(), r.Method, url, r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	req.Header = r.Header.Clone()
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			t.Logf("proxy: %v", err)
		}
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			_, _ = w.Write(buf[:n])
			if f, ok := w.(http.Flusher); ok {
				f.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}
