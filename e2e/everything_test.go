package e2e

// The reference server of the MCP project (@modelcontextprotocol/server-everything, a
// Node.js program from npm pinned in e2e/package.json) driven through mcpctl over stdio
// and over Streamable HTTP: a third-party implementation of the protocol, not ours.

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

const everythingPkg = "@modelcontextprotocol/server-everything"

// everything returns node and the server's entry point, installed by `npm ci` in e2e/ at
// the version package.json pins. Missing: the test fails in CI (CI set) and is skipped
// elsewhere, saying how to install it.
func everything(t *testing.T) (node, entry string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + "; install it with: (cd e2e && npm ci)   [needs node >= 20 and npm]"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed (%v)", err)
	}
	var manifest struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile("package.json")
	if err != nil || json.Unmarshal(b, &manifest) != nil || manifest.Dependencies[everythingPkg] == "" {
		t.Fatalf("e2e/package.json does not pin %s: %v", everythingPkg, err)
	}
	dir, err := filepath.Abs(filepath.Join("node_modules", everythingPkg))
	if err != nil {
		t.Fatal(err)
	}
	var installed struct{ Version string }
	if b, err := os.ReadFile(filepath.Join(dir, "package.json")); err != nil || json.Unmarshal(b, &installed) != nil {
		missing("%s is not installed in e2e/node_modules (%v)", everythingPkg, err)
	}
	if want := manifest.Dependencies[everythingPkg]; installed.Version != want {
		missing("e2e/node_modules has %s %s, package.json pins %s", everythingPkg, installed.Version, want)
	}
	return node, filepath.Join(dir, "dist", "index.js")
}

// startEverythingHTTP runs server-everything on Streamable HTTP. The server listens on
// every interface and has no host setting, so testdata/loopback.cjs is preloaded to bind
// 127.0.0.1; the test then checks in /proc/net that its only listening socket is there.
// The process is ended at cleanup.
func startEverythingHTTP(t *testing.T) (url string, pid int) {
	t.Helper()
	node, entry := everything(t)
	preload, err := filepath.Abs(filepath.Join("testdata", "loopback.cjs"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, "--require", preload, entry, "streamableHttp")
	cmd.Env = append(os.Environ(), "PORT=0")
	cmd.Dir = workDir
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() { // keep draining: a full pipe would block the server
			if a, ok := strings.CutPrefix(sc.Text(), "loopback.cjs: listening "); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(done)
	}()
	var a string
	select {
	case a = <-addr:
	case <-done:
		t.Fatal("server-everything exited before listening")
	case <-time.After(20 * time.Second):
		t.Fatal("server-everything did not listen within 20s")
	}
	if !strings.HasPrefix(a, "127.0.0.1:") {
		t.Fatalf("server-everything listens on %s, want 127.0.0.1", a)
	}
	// What the kernel says, not what the preload printed.
	var socks []string
	testwait.For(t, 5*time.Second, func() error {
		socks = listeningSockets(cmd.Process.Pid)
		if !slices.Equal(socks, []string{a}) {
			return fmt.Errorf("listening TCP sockets of server-everything (pid %d): %v, want only %s", cmd.Process.Pid, socks, a)
		}
		return nil
	})
	return "http://" + a + "/mcp", cmd.Process.Pid
}

// listeningSockets lists the TCP sockets (IPv4 and IPv6) a process listens on, as
// "address:port", from its file descriptors and /proc/net/tcp{,6}.
func listeningSockets(pid int) []string {
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); err == nil && ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		for _, line := range strings.Split(string(b), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) < 10 || f[3] != "0A" || !inodes[f[9]] { // 0A: LISTEN
				continue
			}
			out = append(out, procNetAddr(f[1]))
		}
	}
	slices.Sort(out)
	return out
}

// procNetAddr decodes /proc/net/tcp's "0100007F:1F90" (IPv4 in host order) or tcp6's
// 32 hex digits; IPv6 addresses stay in brackets so that ::ffff:… or :: cannot pass as
// 127.0.0.1.
func procNetAddr(s string) string {
	hexIP, hexPort, _ := strings.Cut(s, ":")
	port, _ := strconv.ParseUint(hexPort, 16, 16)
	ip, _ := hex.DecodeString(hexIP)
	if len(ip) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d:%d", ip[3], ip[2], ip[1], ip[0], port)
	}
	return fmt.Sprintf("[%x]:%d", ip, port)
}

// notification is one line of `events --notifications --type notification --json`.
type notification struct {
	Stream, Type, Session, Method string
	Seq                           uint64
	Params                        map[string]any
}

func (e *env) notifications(session string) []notification {
	e.t.Helper()
	r := e.ok("events", "--json", "--notifications", "--type", "notification", "--session", session)
	var out []notification
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var n notification
		if err := json.Unmarshal([]byte(line), &n); err != nil {
			e.t.Fatalf("notification line %q: %v", line, err)
		}
		out = append(out, n)
	}
	return out
}

// waitNotification waits until a notification of the session matches.
func (e *env) waitNotification(session, what string, match func(notification) bool) notification {
	e.t.Helper()
	var got notification
	testwait.For(e.t, 15*time.Second, func() error {
		ns := e.notifications(session)
		for _, n := range ns {
			if match(n) {
				got = n
				return nil
			}
		}
		var methods []string
		for _, n := range ns {
			methods = append(methods, n.Method)
		}
		return fmt.Errorf("@%s: no %s among the notifications %v", session, what, methods)
	})
	return got
}

// TestEverything_ReferenceServerOverStdioAndStreamableHTTP drives the MCP reference server
// through mcpctl on both transports: connect, a tool call, progress of a long-running tool
// (seen by an MCP host through `proxy` and recorded in the notifications stream), a
// resource, a prompt with arguments, completion, the log level, and a subscription whose
// `notifications/resources/updated` arrive.
func TestEverything_ReferenceServerOverStdioAndStreamableHTTP(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"stdio", "http"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			e := shared(t)
			name := uniqueName(t)
			var server []string
			if via == "stdio" {
				node, entry := everything(t)
				server = []string{"--", node, entry, "stdio"}
			} else {
				url, _ := startEverythingHTTP(t)
				server = []string{url}
			}
			t.Cleanup(func() { e.run("close", "@"+name) })
			everythingScenarios(t, e, name, via, server)
		})
	}
}

func everythingScenarios(t *testing.T, e *env, name, via string, server []string) {
	t.Run("connect", func(t *testing.T) {
		r := e.ok(append([]string{"connect", "@" + name}, server...)...)
		if !strings.Contains(r.Stdout, "mcp-servers/everything") {
			t.Fatalf("connect does not name the server:\n%s", r)
		}
		var info struct {
			Session struct {
				Status     string `json:"status"`
				ServerName string `json:"server_name"`
				Server     struct {
					Transport string `json:"transport"`
				} `json:"server"`
			} `json:"session"`
		}
		e.jsonOK(&info, "@"+name)
		if info.Session.Status != "ready" || info.Session.ServerName != "mcp-servers/everything" {
			t.Fatalf("@%s: %+v, want ready and mcp-servers/everything", name, info.Session)
		}
		if want := map[string]string{"stdio": "stdio", "http": "http"}[via]; !strings.Contains(info.Session.Server.Transport, want) {
			t.Fatalf("@%s transport %q, want %s", name, info.Session.Server.Transport, want)
		}
	})
	if t.Failed() {
		return
	}

	t.Run("tools-call get-sum", func(t *testing.T) {
		if r := e.ok("@"+name, "tools-call", "get-sum", "a:=2", "b:=40"); strings.TrimSpace(r.Stdout) != "The sum of 2 and 40 is 42." {
			t.Fatalf("get-sum:\n%s", r)
		}
		var res mcp.CallToolResult
		e.jsonOK(&res, "@"+name, "tools-call", "get-sum", `{"a": 1.5, "b": -1}`)
		if res.IsError || len(res.Content) != 1 {
			t.Fatalf("get-sum --json: %+v", res)
		}
		if tc, ok := res.Content[0].(mcp.TextContent); !ok || tc.Text != "The sum of 1.5 and -1 is 0.5." {
			t.Fatalf("get-sum --json content: %+v", res.Content[0])
		}
		// A tool error is exit 2 with the server's message.
		if r := e.run("@"+name, "tools-call", "get-sum", "a:=one", "b:=2"); r.Code != 2 {
			t.Fatalf("get-sum with a string: want exit 2\n%s", r)
		}
	})

	t.Run("progress", func(t *testing.T) {
		// The CLI sends no progress token; an MCP host does, through `proxy`, and gets the
		// server's progress under its own token while the bridge records them.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		env := append(os.Environ(), "MCPCTL_HOME="+e.home, "MCPCTL_NODE="+e.node)
		c := client.NewClient(transport.NewStdio(mcpctlBin, env, "@"+name, "proxy"))
		if err := c.Start(ctx); err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var mu sync.Mutex
		var progress []float64
		c.OnNotification(func(n mcp.JSONRPCNotification) {
			if n.Method != "notifications/progress" || n.Params.AdditionalFields["progressToken"] != "e2e-progress" {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			p, _ := n.Params.AdditionalFields["progress"].(float64)
			progress = append(progress, p)
		})
		init := mcp.InitializeRequest{}
		init.Params.ProtocolVersion = "2025-11-25"
		init.Params.ClientInfo = mcp.Implementation{Name: "e2e-host", Version: "1"}
		if _, err := c.Initialize(ctx, init); err != nil {
			t.Fatalf("initialize through the proxy: %v", err)
		}
		req := mcp.CallToolRequest{}
		req.Params.Name = "trigger-long-running-operation"
		req.Params.Arguments = map[string]any{"duration": 0.8, "steps": 4}
		req.Params.Meta = &mcp.Meta{ProgressToken: "e2e-progress"}
		res, err := c.CallTool(ctx, req)
		if err != nil || res.IsError {
			t.Fatalf("trigger-long-running-operation: %v %+v", err, res)
		}
		testwait.For(t, 5*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(progress, []float64{1, 2, 3, 4}) {
				return fmt.Errorf("the host saw progress %v, want [1 2 3 4]", progress)
			}
			return nil
		})
		n := e.waitNotification(name, "notifications/progress 4/4", func(n notification) bool {
			return n.Method == "notifications/progress" && n.Params["progress"] == 4.0 && n.Params["total"] == 4.0
		})
		if n.Stream != "notifications" || n.Session != name {
			t.Fatalf("progress notification recorded as %+v", n)
		}
	})

	t.Run("resources-read", func(t *testing.T) {
		r := e.ok("@"+name, "resources-read", "demo://resource/static/document/features.md")
		if !strings.HasPrefix(r.Stdout, "# Everything Server - Features") {
			t.Fatalf("resources-read:\n%s", r)
		}
		var res struct {
			Contents []struct {
				URI, MimeType, Text string
			} `json:"contents"`
		}
		e.jsonOK(&res, "@"+name, "resources-read", "demo://resource/dynamic/text/7")
		if len(res.Contents) != 1 || res.Contents[0].URI != "demo://resource/dynamic/text/7" || res.Contents[0].Text == "" {
			t.Fatalf("resources-read of a template resource: %+v", res)
		}
		if r := e.run("@"+name, "resources-read", "demo://no/such/thing"); r.Code != 2 {
			t.Fatalf("resources-read of an unknown URI: want exit 2 (server error)\n%s", r)
		}
	})

	t.Run("prompts-get with arguments", func(t *testing.T) {
		if r := e.ok("@"+name, "prompts-get", "args-prompt", "city:=Paris"); strings.TrimSpace(r.Stdout) != "user: What's weather in Paris?" {
			t.Fatalf("prompts-get args-prompt city:\n%s", r)
		}
		var res struct {
			Messages []struct {
				Role    string
				Content struct{ Type, Text string }
			}
		}
		e.jsonOK(&res, "@"+name, "prompts-get", "args-prompt", "city:=Paris", "state:=Texas")
		if len(res.Messages) != 1 || res.Messages[0].Role != "user" || res.Messages[0].Content.Text != "What's weather in Paris, Texas?" {
			t.Fatalf("prompts-get args-prompt city state: %+v", res)
		}
		if r := e.run("@"+name, "prompts-get", "args-prompt"); r.Code != 2 {
			t.Fatalf("prompts-get without the required city: want exit 2\n%s", r)
		}
	})

	t.Run("complete", func(t *testing.T) {
		var res struct {
			Completion struct{ Values []string } `json:"completion"`
		}
		e.jsonOK(&res, "@"+name, "complete", "--prompt", "completable-prompt", "department", "S")
		if !slices.Equal(res.Completion.Values, []string{"Sales", "Support"}) {
			t.Fatalf("complete department S: %v, want [Sales Support]", res.Completion.Values)
		}
		if r := e.ok("@"+name, "complete", "--prompt", "completable-prompt", "department", "Eng"); strings.TrimSpace(r.Stdout) != "Engineering" {
			t.Fatalf("complete department Eng:\n%s", r)
		}
	})

	t.Run("logging level and subscription updates", func(t *testing.T) {
		// The server acknowledges each subscribe with an info-level log message: at level
		// error it must stay silent, at info it must arrive.
		quiet, loud := "demo://resource/static/document/startup.md", "demo://resource/static/document/features.md"
		e.ok("@"+name, "logging-set-level", "error")
		e.ok("@"+name, "resources-subscribe", quiet)
		e.ok("@"+name, "logging-set-level", "info")
		e.ok("@"+name, "resources-subscribe", loud)
		ack := func(uri string) func(notification) bool {
			return func(n notification) bool {
				d, _ := n.Params["data"].(string)
				return n.Method == "notifications/message" && strings.Contains(d, "Subscribe Resource request for URI: "+uri)
			}
		}
		e.waitNotification(name, "the info message acknowledging "+loud, ack(loud))
		if r := e.ok("@"+name, "tools-call", "toggle-subscriber-updates"); !strings.Contains(r.Stdout, "Started simulated resource updated") {
			t.Fatalf("toggle-subscriber-updates:\n%s", r)
		}
		// Updates come at once for each subscribed URI, then every 5 s.
		for _, uri := range []string{quiet, loud} {
			e.waitNotification(name, "notifications/resources/updated for "+uri, func(n notification) bool {
				return n.Method == "notifications/resources/updated" && n.Params["uri"] == uri
			})
		}
		for _, n := range e.notifications(name) {
			if ack(quiet)(n) {
				t.Fatalf("an info message arrived while the level was error: %+v", n)
			}
		}
		e.ok("@"+name, "tools-call", "toggle-subscriber-updates") // stop them
	})
}
