package oauth

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// callbackPath is where the loopback listener takes the authorization response.
const callbackPath = "/callback"

// DefaultCallbackTimeout bounds the wait for the authorization response.
const DefaultCallbackTimeout = 5 * time.Minute

// listener is the loopback redirect listener (RFC 8252 §7.3): 127.0.0.1, a random port,
// one response taken, closed when the login ends.
type listener struct {
	ln   net.Listener
	srv  *http.Server
	got  chan url.Values
	done chan struct{}
}

func listen() (*listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("redirect listener: %w", err)
	}
	l := &listener{ln: ln, got: make(chan url.Values, 1), done: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc(callbackPath, func(w http.ResponseWriter, r *http.Request) {
		select {
		case l.got <- r.URL.Query():
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			fmt.Fprintln(w, "mcpctl: authorization response received; you can close this window.")
		default:
			http.Error(w, "mcpctl: an authorization response was already received", http.StatusConflict)
		}
	})
	l.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(l.done)
		_ = l.srv.Serve(ln)
	}()
	return l, nil
}

func (l *listener) redirectURI() string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", l.ln.Addr().(*net.TCPAddr).Port, callbackPath)
}

// close stops the listener and waits for it: nothing listens once login returns.
func (l *listener) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.srv.Shutdown(ctx)
	<-l.done
}

// readPasted reads lines from r until one is a URL with a query (the final redirect URL a
// user copied from the browser's address bar) and sends its query.
func readPasted(ctx context.Context, r io.Reader, out chan<- url.Values) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		u, err := url.Parse(line)
		if err != nil || u.RawQuery == "" {
			continue
		}
		select {
		case out <- u.Query():
		case <-ctx.Done():
		}
		return
	}
}

// OpenBrowser opens u with $BROWSER when set (the first entry of a colon-separated list;
// "%s" in it is replaced by the URL, else the URL is its last argument), else with the
// platform's opener. It does not wait for the browser to finish, but reaps it.
func OpenBrowser(u string) error {
	var argv []string
	if b := os.Getenv("BROWSER"); b != "" {
		first, _, _ := strings.Cut(b, ":")
		argv = strings.Fields(first)
		replaced := false
		for i, a := range argv {
			if strings.Contains(a, "%s") {
				argv[i], replaced = strings.ReplaceAll(a, "%s", u), true
			}
		}
		if !replaced {
			argv = append(argv, u)
		}
	} else {
		switch runtime.GOOS {
		case "darwin":
			argv = []string{"open", u}
		case "windows":
			argv = []string{"rundll32", "url.dll,FileProtocolHandler", u}
		default:
			argv = []string{"xdg-open", u}
		}
	}
	if len(argv) == 0 {
		return errors.New("BROWSER is empty")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, nil, nil
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("open browser: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}
