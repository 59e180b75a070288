package e2e

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// httpProxy is a running `mcpctl @s proxy --listen …`.
type httpProxy struct {
	url    string
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr strings.Builder
	done   chan struct{}
}

func (p *httpProxy) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// startHTTPProxy runs the session's HTTP proxy with args and returns it once it printed
// its URL. Cleanup stops it with SIGTERM and checks that it exited 0.
func startHTTPProxy(t *testing.T, e *env, name string, args ...string) *httpProxy {
	t.Helper()
	cmd := e.cmd(context.Background(), append([]string{"@" + name, "proxy"}, args...)...)
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &httpProxy{cmd: cmd, done: make(chan struct{})}
	urls := make(chan string, 1)
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(errPipe)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if _, u, ok := strings.Cut(sc.Text(), "(Streamable HTTP) at "); ok {
				urls <- u
			}
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		<-p.done
		if err != nil {
			t.Errorf("proxy after SIGTERM: %v, want exit 0\nstderr: %s", err, p.Stderr())
		}
	})
	select {
	case p.url = <-urls:
	case <-p.done:
		_ = cmd.Wait()
		t.Fatalf("proxy ended without printing its URL: %s", p.Stderr())
	case <-time.After(60 * time.Second):
		t.Fatalf("proxy printed no URL within 60s: %s", p.Stderr())
	}
	return p
}

type rootsList []string

func (r rootsList) ListRoots(context.Context, mcp.ListRootsRequest) (*mcp.ListRootsResult, error) {
	res := &mcp.ListRootsResult{}
	for _, u := range r {
		res.Roots = append(res.Roots, mcp.Root{URI: u, Name: filepath.Base(u)})
	}
	return res, nil
}

// TestHTTPProxy_MCPGoClientListsAndCallsTools: an MCP host speaking Streamable HTTP (mcp-go's
// client) uses a session through `proxy --listen`: it lists and calls tools, on the
// 2025-11-25 handshake (an HTTP session, its id in Mcp-Session-Id) and on whatever revision
// it negotiates by itself; the server's ask (roots/list) during a call reaches this client,
// and its progress reaches it on the call's event stream.
func TestHTTPProxy_MCPGoClientListsAndCallsTools(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	p := startHTTPProxy(t, e, name, "--listen", "127.0.0.1:0")
	if !strings.HasPrefix(p.url, "http://127.0.0.1:") || !strings.HasSuffix(p.url, "/mcp") {
		t.Fatalf("proxy URL %q, want http://127.0.0.1:PORT/mcp", p.url)
	}
	for _, version := range []string{"2025-11-25", ""} {
		t.Run("protocol "+version, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			tr, err := transport.NewStreamableHTTP(p.url)
			if err != nil {
				t.Fatal(err)
			}
			c := client.NewClient(tr, client.WithRootsHandler(rootsList{"file:///e2e/httpproxy"}))
			if err := c.Start(ctx); err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var mu sync.Mutex
			var progress int
			c.OnNotification(func(n mcp.JSONRPCNotification) {
				if n.Method == "notifications/progress" {
					mu.Lock()
					progress++
					mu.Unlock()
				}
			})
			init := mcp.InitializeRequest{}
			init.Params.ProtocolVersion = version
			init.Params.ClientInfo = mcp.Implementation{Name: "e2e-http-host", Version: "1"}
			ir, err := c.Initialize(ctx, init)
			if err != nil {
				t.Fatalf("initialize through the HTTP proxy: %v\nproxy stderr: %s", err, p.Stderr())
			}
			// The bridge answers initialize with what it negotiated with its server: a server
			// that speaks only 2026-07-28 makes that the version (the stdio proxy does the same).
			if version != "" && ir.ProtocolVersion != version && serverProtocol != protocolModern {
				t.Errorf("negotiated %q, want %q", ir.ProtocolVersion, version)
			}
			if version != "" && tr.GetSessionId() == "" {
				t.Errorf("after initialize on %s: no Mcp-Session-Id", version)
			}
			tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
			if err != nil {
				t.Fatalf("tools/list through the HTTP proxy: %v", err)
			}
			var names []string
			for _, tl := range tools.Tools {
				names = append(names, tl.Name)
			}
			if !strings.Contains(","+strings.Join(names, ",")+",", ",add,") {
				t.Fatalf("tools/list through the HTTP proxy: %v, want add among them", names)
			}
			call := func(tool string, args map[string]any, meta *mcp.Meta) string {
				t.Helper()
				req := mcp.CallToolRequest{}
				req.Params.Name, req.Params.Arguments, req.Params.Meta = tool, args, meta
				res, err := c.CallTool(ctx, req)
				if err != nil {
					t.Fatalf("tools/call %s through the HTTP proxy: %v", tool, err)
				}
				if res.IsError || len(res.Content) == 0 {
					t.Fatalf("tools/call %s: %+v", tool, res)
				}
				tc, _ := res.Content[0].(mcp.TextContent)
				return tc.Text
			}
			if got := call("add", map[string]any{"a": 20, "b": 22}, nil); got != "42" {
				t.Errorf("add 20 22 through the HTTP proxy = %q, want 42", got)
			}
			// mcptestserver's roots tool sends a server request, which a 2026-07-28 server may not.
			if serverProtocol != protocolModern {
				if got := call("roots", nil, nil); got != "file:///e2e/httpproxy" {
					t.Errorf("roots through the HTTP proxy = %q, want the HTTP client's root file:///e2e/httpproxy", got)
				}
			}
			call("notify", map[string]any{"n": 2}, &mcp.Meta{ProgressToken: "e2e-http-progress"})
			// The client may hand notifications to its handler on a goroutine of its own.
			testwait.For(t, 5*time.Second, func() error {
				mu.Lock()
				defer mu.Unlock()
				if progress == 0 {
					return fmt.Errorf("notify with a progress token: the HTTP client saw no progress on the call's stream")
				}
				return nil
			})
		})
	}
}

// TestHTTPProxy_TokenOnAnOpenListener: on 0.0.0.0 the proxy requires the bearer token:
// without it, or with a wrong one, 401 and WWW-Authenticate: Bearer; with it, MCP works.
func TestHTTPProxy_TokenOnAnOpenListener(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	// A server over HTTP, which shows the headers it got (whoami): the proxy's token must
	// not be among them.
	srvURL, _ := startHTTPServer(t)
	e.ok("connect", srvURL, "@"+name)
	t.Cleanup(func() { e.run("close", "@"+name) })
	tokFile := filepath.Join(t.TempDir(), "token")
	const token = "e2e-proxy-token-0123456789"
	if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startHTTPProxy(t, e, name, "--listen", "0.0.0.0:0", "--bearer-token-file", tokFile)
	_, port, err := net.SplitHostPort(strings.TrimSuffix(strings.TrimPrefix(p.url, "http://"), "/mcp"))
	if err != nil || !strings.HasPrefix(p.url, "http://0.0.0.0:") {
		t.Fatalf("proxy URL %q, want http://0.0.0.0:PORT/mcp", p.url)
	}
	// Through 127.0.0.1: this test sends nothing to another address.
	u := "http://127.0.0.1:" + port + "/mcp"
	initBody := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`
	post := func(auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(initBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for auth, what := range map[string]string{"": "no token", "Bearer wrong-token": "a wrong token",
		"Bearer " + token + "x": "a longer token", "Basic " + token: "another scheme"} {
		resp := post(auth)
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d, WWW-Authenticate %q; want 401 and Bearer", what, resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
		if resp.Header.Get("Mcp-Session-Id") != "" {
			t.Errorf("%s: a session was opened anyway", what)
		}
	}
	resp := post("Bearer " + token)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Mcp-Session-Id") == "" || !strings.Contains(string(b), `"protocolVersion"`) {
		t.Fatalf("with the token: %d, session %q, %s; want 200, a session and the initialize result", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), b)
	}
	// And an MCP client with the token lists the tools.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := transport.NewStreamableHTTP(u, transport.WithHTTPHeaders(map[string]string{"Authorization": "Bearer " + token}))
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize with the token: %v", err)
	}
	if _, err := c.ListTools(ctx, mcp.ListToolsRequest{}); err != nil {
		t.Fatalf("tools/list with the token: %v", err)
	}
	who := mcp.CallToolRequest{}
	who.Params.Name = "whoami"
	res, err := c.CallTool(ctx, who)
	if err != nil || res.IsError || len(res.Content) == 0 {
		t.Fatalf("whoami with the token: %v %+v", err, res)
	}
	text, _ := res.Content[0].(mcp.TextContent)
	sum := sha256.Sum256([]byte(token))
	if !strings.Contains(text.Text, "Mcp-") && !strings.Contains(text.Text, "mcp-") {
		t.Fatalf("whoami shows no request headers: %s", text.Text)
	}
	if strings.Contains(text.Text, token) || strings.Contains(text.Text, hex.EncodeToString(sum[:])) {
		t.Errorf("the proxy's bearer token reached the MCP server: %s", text.Text)
	}
	// The token is in no argv and no event.
	if strings.Contains(strings.Join(p.cmd.Args, " "), token) {
		t.Errorf("the token is on the proxy's command line")
	}
	for _, ev := range e.events("--session", name) {
		if b, _ := json.Marshal(ev); strings.Contains(string(b), token) {
			t.Errorf("event %s carries the token", b)
		}
	}
}

// TestHTTPProxy_BadInput: each mistake on the command line fails with exit 1 and a message
// saying what is wrong, before the session is looked up: no hub started, no file written
// under the home, nothing left listening.
func TestHTTPProxy_BadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTok := func(name string, body string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := writeTok("good", "tok\n", 0o600)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cases := []struct {
		name string
		args []string
		msg  []string
	}{
		{"port in use", []string{"--listen", held.Addr().String()}, []string{"address already in use", held.Addr().String()}},
		{"no port", []string{"--listen", "127.0.0.1"}, []string{`--listen "127.0.0.1": want host:port`}},
		{"port out of range", []string{"--listen", "127.0.0.1:70000"}, []string{"not a number from 0 to 65535"}},
		{"not this machine's address", []string{"--listen", "192.0.2.1:0", "--bearer-token-file", good}, []string{"not an address of this machine"}},
		{"open listener without a token", []string{"--listen", "0.0.0.0:0"}, []string{"not a loopback address", "without --bearer-token-file"}},
		{"all interfaces without a token", []string{"--listen", ":0"}, []string{"not a loopback address"}},
		{"token file missing", []string{"--listen", "127.0.0.1:0", "--bearer-token-file", filepath.Join(dir, "nosuch")}, []string{"nosuch: no such file"}},
		{"token file empty", []string{"--listen", "127.0.0.1:0", "--bearer-token-file", writeTok("empty", "\n", 0o600)}, []string{"empty: it holds no token"}},
		{"token file world-readable", []string{"--listen", "0.0.0.0:0", "--bearer-token-file", writeTok("open", "tok\n", 0o644)}, []string{"mode 0644 lets group or others at the token", "chmod 600"}},
		{"token file group-readable", []string{"--listen", "127.0.0.1:0", "--bearer-token-file", writeTok("group", "tok\n", 0o640)}, []string{"mode 0640"}},
		{"token file of two words", []string{"--listen", "127.0.0.1:0", "--bearer-token-file", writeTok("two", "tok en\n", 0o600)}, []string{"space or a control character"}},
		{"token file is a directory", []string{"--listen", "127.0.0.1:0", "--bearer-token-file", t.TempDir()}, []string{"not a regular file"}},
		{"token file without --listen", []string{"--bearer-token-file", good}, []string{"--bearer-token-file needs --listen"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// A home of its own, without isolated's cleanup: that would start a hub to clean it.
			home, err := os.MkdirTemp(workDir, "i")
			if err != nil {
				t.Fatal(err)
			}
			e := &env{t: t, home: home, node: "e2e"}
			r := e.run(append([]string{"@nosuch", "proxy"}, c.args...)...)
			if r.Code != 1 {
				t.Errorf("want exit 1:\n%s", r)
			}
			for _, m := range c.msg {
				if !strings.Contains(r.Stderr, m) {
					t.Errorf("stderr lacks %q:\n%s", m, r)
				}
			}
			if strings.Contains(r.Stderr, "not found") {
				t.Errorf("the session was looked up before the command line was checked:\n%s", r)
			}
			assertNothingStarted(t, e.home)
		})
	}
	// The held port is still the test's: the proxy did not take it over.
	if c, err := net.Dial("tcp", held.Addr().String()); err != nil {
		t.Errorf("the held port stopped listening: %v", err)
	} else {
		c.Close()
	}
}

// assertNothingStarted: no process runs on the home and no hub state was written there.
func assertNothingStarted(t *testing.T, home string) {
	t.Helper()
	if left := leftoverProcesses(home); len(left) > 0 {
		t.Errorf("processes running on the home: %v", left)
	}
	var files []string
	_ = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("files written under the home: %v", files)
	}
}

// TestHTTPProxy_UnknownSessionFreesThePort: a good command line for a session that does
// not exist fails with not found, exit 1, and the port it had bound is free again.
func TestHTTPProxy_UnknownSessionFreesThePort(t *testing.T) {
	t.Parallel()
	e := shared(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	r := e.run("@nosuch-"+uniqueName(t), "proxy", "--listen", addr)
	if r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
		t.Fatalf("want exit 1, not found:\n%s", r)
	}
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("after the failed proxy, %s is not free: %v", addr, err)
	}
	ln.Close()
}

// TestHTTPProxy_PrivilegedPort: port 80 for a user that may not bind it is exit 1 with the
// reason. As root the test runs the CLI as nobody (the binary copied where nobody can run it).
func TestHTTPProxy_PrivilegedPort(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	if err != nil {
		t.Skipf("no ip_unprivileged_port_start: %v", err)
	}
	if start, _ := strconv.Atoi(strings.TrimSpace(string(b))); start <= 80 {
		t.Skipf("ip_unprivileged_port_start is %d: port 80 is not privileged here", start)
	}
	dir, err := os.MkdirTemp("", "mcpctl-priv-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	home := filepath.Join(dir, "h")
	bin := filepath.Join(dir, "mcpctl")
	src, err := os.ReadFile(mcpctlBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "@s", "proxy", "--listen", "127.0.0.1:80")
	cmd.Env = append(os.Environ(), "MCPCTL_HOME="+home, "MCPCTL_NODE=e2e", "HOME="+dir, homeMarker+"="+home)
	if os.Getuid() == 0 {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("proxy --listen 127.0.0.1:80 as uid %d: %v, want exit 1\nstderr: %s", 65534, err, stderr.String())
	}
	for _, m := range []string{"permission denied", "ports below", "privileged", "CAP_NET_BIND_SERVICE"} {
		if !strings.Contains(stderr.String(), m) {
			t.Errorf("stderr lacks %q: %s", m, stderr.String())
		}
	}
	assertNothingStarted(t, home)
}

// TestHTTPProxy_FollowsARestartAndStopsOnSIGINT: --json prints one JSON line with the URL;
// a client keeps its MCP session across `mcpctl restart` of the session (the proxy finds
// the next bridge); SIGINT stops the proxy with exit 0 and frees the port.
func TestHTTPProxy_FollowsARestartAndStopsOnSIGINT(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	cmd := e.cmd(context.Background(), "--json", "@"+name, "proxy", "--listen", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		exited <- cmd.Wait()
	}()
	defer func() {
		_ = cmd.Process.Kill()
	}()
	var info struct {
		Session, URL, Address string
		Auth                  bool
	}
	select {
	case l := <-lines:
		if err := json.Unmarshal([]byte(l), &info); err != nil || info.Session != name || !strings.HasPrefix(info.URL, "http://127.0.0.1:") || info.Auth {
			t.Fatalf("--json line %q (%v), want session, url, address, auth false", l, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no JSON line within 60s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	tr, err := transport.NewStreamableHTTP(info.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	add := func() {
		t.Helper()
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "add", map[string]any{"a": 1, "b": 2}
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("add through the proxy: %v %+v\nproxy stderr: %s", err, res, stderr.String())
		}
	}
	add()
	before, _ := e.session(name)
	e.ok("restart", "@"+name)
	after, _ := e.session(name)
	if before.Bridge == nil || after.Bridge == nil || before.Bridge.Socket == after.Bridge.Socket {
		t.Fatalf("restart left the bridge as it was: %+v → %+v", before.Bridge, after.Bridge)
	}
	add() // the same MCP session, on the next bridge
	_ = cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("proxy after SIGINT: %v, want exit 0\nstderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("proxy still running 30s after SIGINT")
	}
	ln, err := net.Listen("tcp", info.Address)
	if err != nil {
		t.Fatalf("after SIGINT, %s is still taken: %v", info.Address, err)
	}
	ln.Close()
}

// TestHTTPProxy_GetStreamCarriesServerNotifications: a client that keeps the standalone
// GET stream open (mcp-go's continuous listening) gets the server's notifications that
// belong to no call — tools/list_changed, log messages — which never come on a call's POST.
func TestHTTPProxy_GetStreamCarriesServerNotifications(t *testing.T) {
	t.Parallel()
	skipIfServerSpeaks(t, protocolModern, "no standalone GET stream in that revision")
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	p := startHTTPProxy(t, e, name, "--listen", "127.0.0.1:0")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tr, err := transport.NewStreamableHTTP(p.url, transport.WithContinuousListening())
	if err != nil {
		t.Fatal(err)
	}
	c := client.NewClient(tr)
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var mu sync.Mutex
	seen := map[string]int{}
	c.OnNotification(func(n mcp.JSONRPCNotification) {
		mu.Lock()
		seen[n.Method]++
		mu.Unlock()
	})
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	// The client opens its GET stream on its own after initialize: call until it is there.
	testwait.For(t, 30*time.Second, func() error {
		req := mcp.CallToolRequest{}
		req.Params.Name, req.Params.Arguments = "notify", map[string]any{"n": 1}
		if _, err := c.CallTool(ctx, req); err != nil {
			t.Fatalf("notify through the proxy: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if seen["notifications/tools/list_changed"] == 0 || seen["notifications/message"] == 0 {
			return fmt.Errorf("notifications seen: %v, want tools/list_changed and message", seen)
		}
		return nil
	})
}
