package bridge

import (
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events/testwait"

	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCheckPeer(t *testing.T) {
	me := os.Getuid()
	if err := checkPeer(&unix.Ucred{Pid: 1, Uid: uint32(me)}, me); err != nil {
		t.Errorf("own uid refused: %v", err)
	}
	if err := checkPeer(&unix.Ucred{Pid: 1, Uid: uint32(me + 1)}, me); !errors.Is(err, rpc.ErrPeerRefused) {
		t.Errorf("uid %d accepted by uid %d: %v", me+1, me, err)
	}
	if err := checkPeer(nil, me); !errors.Is(err, rpc.ErrPeerRefused) {
		t.Errorf("no credentials accepted: %v", err)
	}
}

func TestServer_PeerCredOfRealConnection(t *testing.T) {
	s := listenServer(t, echoUpstream(), filepath.Join(socketDir(t), "p.sock"), nil)
	c := dial(t, s.Path())
	call(t, c, "ping", nil) // accepted: same uid
	s.mu.Lock()
	var nc *net.UnixConn
	for sc := range s.conns {
		nc = sc.nc
	}
	s.mu.Unlock()
	cred, err := peerCred(nc)
	if err != nil {
		t.Fatal(err)
	}
	if int(cred.Uid) != os.Getuid() || int(cred.Pid) != os.Getpid() {
		t.Errorf("peer cred = uid %d pid %d, want uid %d pid %d", cred.Uid, cred.Pid, os.Getuid(), os.Getpid())
	}
}

func TestServer_SocketModes(t *testing.T) {
	dir := socketDir(t)
	s := listenServer(t, echoUpstream(), filepath.Join(dir, "m.sock"), nil)
	fi, err := os.Stat(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want a 0600 socket", fi.Mode())
	}
	di, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("directory mode = %v, want 0700", di.Mode().Perm())
	}

	t.Run("an existing directory is tightened", func(t *testing.T) {
		loose := filepath.Join(socketDir(t))
		if err := os.MkdirAll(loose, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(loose, 0o755)
		listenServer(t, echoUpstream(), filepath.Join(loose, "x.sock"), nil)
		di, _ := os.Stat(loose)
		if di.Mode().Perm() != 0o700 {
			t.Errorf("directory mode = %v, want 0700", di.Mode().Perm())
		}
	})
}

func TestServer_LongPathFallsBack(t *testing.T) {
	long := filepath.Join(socketDir(t), strings.Repeat("d", 120), "sess.123.sock")
	s := listenServer(t, echoUpstream(), long, nil)
	if got := s.Path(); filepath.Dir(got) != rpc.FallbackDir() || len(got) > rpc.MaxSocketPath {
		t.Fatalf("Path = %q, want a short path in %s", got, rpc.FallbackDir())
	}
	if fi, err := os.Stat(rpc.FallbackDir()); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("fallback dir: %v %v, want 0700", fi, err)
	}
	// Dial maps the long path the same way.
	c := dial(t, long)
	call(t, c, "ping", nil)

	longName := filepath.Join(socketDir(t), strings.Repeat("n", 120)+".sock")
	if got := rpc.SocketPath(longName); len(got) > rpc.MaxSocketPath || filepath.Dir(got) != rpc.FallbackDir() {
		t.Errorf("SocketPath(long name) = %q", got)
	}
	if rpc.SocketPath(longName) == rpc.SocketPath(longName+"x") {
		t.Error("two long paths map to one socket")
	}
}

func TestServer_CloseRemovesOnlyItsOwnSocket(t *testing.T) {
	t.Run("own socket removed", func(t *testing.T) {
		s := listenServer(t, echoUpstream(), filepath.Join(socketDir(t), "own.sock"), nil)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(s.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket still there after Close: %v", err)
		}
	})
	t.Run("a successor's socket at the same path survives", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "shared.sock")
		old := listenServer(t, echoUpstream(), path, nil)
		// The successor takes the path over (the old file removed by someone else).
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		successor := listenServer(t, echoUpstream(), path, nil)
		if err := old.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(path); err != nil {
			t.Fatalf("successor's socket removed by the old server: %v", err)
		}
		call(t, dial(t, successor.Path()), "ping", nil)
	})
	t.Run("a plain file at the path survives", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "f.sock")
		s := listenServer(t, echoUpstream(), path, nil)
		_ = os.Remove(path)
		if err := os.WriteFile(path, []byte("not ours"), 0o600); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
		if b, err := os.ReadFile(path); err != nil || string(b) != "not ours" {
			t.Errorf("file replaced or removed: %q %v", b, err)
		}
	})
	t.Run("a live socket is not taken over, a stale one is", func(t *testing.T) {
		path := filepath.Join(socketDir(t), "live.sock")
		listenServer(t, echoUpstream(), path, nil)
		if err := NewServer(echoUpstream(), nil).Listen(path); err == nil {
			t.Fatal("second Listen on a live socket succeeded")
		}
		stale := filepath.Join(filepath.Dir(path), "stale.sock")
		ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
		if err != nil {
			t.Fatal(err)
		}
		ln.SetUnlinkOnClose(false)
		_ = ln.Close() // the file stays, nobody answers
		call(t, dial(t, listenServer(t, echoUpstream(), stale, nil).Path()), "ping", nil)
	})
}

func TestServer_ManyConcurrentClients(t *testing.T) {
	b := openBridge(t, stdioConfig(t))
	const clients, calls = 40, 10
	var wg sync.WaitGroup
	errs := make(chan error, clients*calls)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := rpc.Dial(context.Background(), b.SocketPath())
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			for j := range calls {
				want := fmt.Sprintf("client %d call %d", i, j)
				res, err := callErr(c, "tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"text": want}})
				if err != nil {
					errs <- err
					return
				}
				var r struct {
					Content []struct{ Text string } `json:"content"`
				}
				if json.Unmarshal(res, &r) != nil || len(r.Content) != 1 || r.Content[0].Text != want {
					errs <- fmt.Errorf("got %s, want %q", res, want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestServer_Limits(t *testing.T) {
	t.Run("a line over MaxLine gets an error and the connection closes", func(t *testing.T) {
		s := listenServer(t, echoUpstream(), filepath.Join(socketDir(t), "l.sock"), func(s *Server) { s.MaxLine = 1024 })
		nc, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		big := fmt.Sprintf(`{"jsonrpc":"2.0","id":1,"method":"echo","params":{"x":%q}}`+"\n", strings.Repeat("a", 2000))
		go func() { _, _ = nc.Write([]byte(big)) }()
		r := bufio.NewReader(nc)
		line, err := r.ReadBytes('\n')
		if err != nil {
			t.Fatal(err)
		}
		var m rpc.Message
		if json.Unmarshal(line, &m) != nil || m.Error == nil || m.Error.Code != rpc.CodeInvalidRequest {
			t.Errorf("answer to a long line = %s, want an invalid-request error", line)
		}
		if _, err := r.ReadBytes('\n'); err == nil {
			t.Error("connection still open after a long line")
		}
	})
	t.Run("connections over MaxConns are refused", func(t *testing.T) {
		s := listenServer(t, echoUpstream(), filepath.Join(socketDir(t), "c.sock"), func(s *Server) { s.MaxConns = 1 })
		first := dial(t, s.Path())
		call(t, first, "ping", nil)
		second := dial(t, s.Path())
		if _, err := callErr(second, "ping", nil); !errors.Is(err, rpc.ErrDisconnected) {
			t.Errorf("call over the limit = %v, want ErrDisconnected", err)
		}
		call(t, first, "ping", nil)
	})
	t.Run("garbage gets a parse error, the connection stays", func(t *testing.T) {
		s := listenServer(t, echoUpstream(), filepath.Join(socketDir(t), "g.sock"), nil)
		nc, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		_, _ = nc.Write([]byte("not json\n" + `{"jsonrpc":"2.0","id":"a","method":"fail"}` + "\n"))
		r := bufio.NewReader(nc)
		for _, want := range []int{rpc.CodeParseError, -32000} {
			line, err := r.ReadBytes('\n')
			if err != nil {
				t.Fatal(err)
			}
			var m rpc.Message
			if json.Unmarshal(line, &m) != nil || m.Error == nil || m.Error.Code != want {
				t.Errorf("got %s, want error %d", line, want)
			}
			if want == -32000 && (string(m.ID) != `"a"` || string(m.Error.Data) != `{"why":"asked"}`) {
				t.Errorf("error not verbatim: %s", line)
			}
		}
	})
}

func TestServer_CancelledRequestIsNotAnswered(t *testing.T) {
	s := listenServer(t, echoUpstream(), filepath.Join(socketDir(t), "x.sock"), nil)
	c := dial(t, s.Path())
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := c.Call(ctx, "block", nil); errc <- err }()
	testwait.For(t, 5e9, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for sc := range s.conns {
			sc.mu.Lock()
			n := len(sc.inflight)
			sc.mu.Unlock()
			if n == 1 {
				return nil
			}
		}
		return errNotYet
	})
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Call = %v", err)
	}
	testwait.For(t, 5e9, func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for sc := range s.conns {
			sc.mu.Lock()
			n := len(sc.inflight)
			sc.mu.Unlock()
			if n != 0 {
				return fmt.Errorf("%d requests still in flight", n)
			}
		}
		return nil
	})
	call(t, c, "ping", nil)
}

func BenchmarkSocketRoundTrip(b *testing.B) {
	dir, err := os.MkdirTemp("", "mbb")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	list := json.RawMessage(`{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}`)
	up := newFuncUpstream(func(context.Context, string, json.RawMessage) (json.RawMessage, error) { return list, nil })
	init, _ := up.Initialize(context.Background())
	s := NewServer(up, init)
	if err := s.Listen(filepath.Join(dir, "b.sock")); err != nil {
		b.Fatal(err)
	}
	defer s.Close()

	b.Run("one connection", func(b *testing.B) {
		c, err := rpc.Dial(context.Background(), s.Path())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Call(ctx, "tools/list", nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dial and call (one-shot CLI)", func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			c, err := rpc.Dial(ctx, s.Path())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := c.Call(ctx, "tools/list", nil); err != nil {
				b.Fatal(err)
			}
			_ = c.Close()
		}
	})
}

// BenchmarkStdioRoundTrip measures a tools/list through the socket to a real stdio server.
func BenchmarkStdioRoundTrip(b *testing.B) {
	dir, err := os.MkdirTemp("", "mbs")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(dir)
	br := New(Config{Session: "bench", Server: stdioServerForBench(), Env: map[string]string{envTestServer: "stdio"},
		SocketPath: filepath.Join(dir, "s.sock"), PingInterval: -1})
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
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Call(ctx, "tools/list", nil); err != nil {
			b.Fatal(err)
		}
	}
}

// TestServer_HalfClosedConnectionGetsItsAnswers: a client that writes its requests and then
// shuts down its write side (`printf … | nc -U`, `proxy` after stdin ended) gets an answer
// to every request read before the EOF, then the bridge closes the connection. A client
// that closes the connection for good still has its requests cancelled.
func TestServer_HalfClosedConnectionGetsItsAnswers(t *testing.T) {
	cancelled := make(chan string, 4)
	up := newFuncUpstream(func(ctx context.Context, method string, params json.RawMessage) (json.RawMessage, error) {
		switch method {
		case "slow": // a server that takes a moment: long after the client's EOF was read
			select {
			case <-ctx.Done():
				cancelled <- method
				return nil, ctx.Err()
			case <-time.After(300 * time.Millisecond):
				return json.RawMessage(`{"slow":true}`), nil
			}
		case "block":
			<-ctx.Done()
			cancelled <- method
			return nil, ctx.Err()
		}
		return json.RawMessage(`{}`), nil
	})
	s := listenServer(t, up, filepath.Join(socketDir(t), "h.sock"), nil)

	t.Run("half-closed", func(t *testing.T) {
		conn, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
		req := `{"jsonrpc":"2.0","id":1,"method":"ping"}` + "\n" +
			`{"jsonrpc":"2.0","id":"two","method":"slow"}` + "\n" +
			`{"jsonrpc":"2.0","id":3,"method":"tools/list"}` + "\n"
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(conn) // until the bridge closes its side
		if err != nil {
			t.Fatalf("read after CloseWrite: %v (got %q)", err, b)
		}
		ids := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var m struct {
				ID     json.RawMessage `json:"id"`
				Result json.RawMessage `json:"result"`
			}
			if err := json.Unmarshal([]byte(line), &m); err != nil || m.Result == nil {
				t.Errorf("answer %q: %v, want a result", line, err)
				continue
			}
			ids[string(m.ID)] = true
		}
		for _, id := range []string{`1`, `"two"`, `3`} {
			if !ids[id] {
				t.Errorf("no answer to request %s after CloseWrite; got %q", id, b)
			}
		}
		select {
		case m := <-cancelled:
			t.Errorf("%s was cancelled upstream on a half-closed connection", m)
		default:
		}
	})

	t.Run("closed for good", func(t *testing.T) {
		conn, err := net.Dial("unix", s.Path())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Write([]byte(`{"jsonrpc":"2.0","id":1,"method":"block"}` + "\n")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 5*time.Second, func() error {
			s.mu.Lock()
			defer s.mu.Unlock()
			for sc := range s.conns {
				sc.mu.Lock()
				n := len(sc.inflight)
				sc.mu.Unlock()
				if n == 1 {
					return nil
				}
			}
			return errNotYet
		})
		_ = conn.Close()
		select {
		case m := <-cancelled:
			if m != "block" {
				t.Errorf("cancelled %s, want block", m)
			}
		case <-time.After(5 * time.Second):
			t.Error("a request of a closed connection was not cancelled upstream")
		}
	})
}
