package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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

// binPath is the server binary built once by TestMain.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcptestserver-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "mcptestserver")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build mcptestserver:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// notifications collects what a client receives.
type notifications struct {
	mu  sync.Mutex
	all []mcp.JSONRPCNotification
}

func (n *notifications) add(x mcp.JSONRPCNotification) {
	n.mu.Lock()
	n.all = append(n.all, x)
	n.mu.Unlock()
}

func (n *notifications) byMethod(method string) []mcp.JSONRPCNotification {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []mcp.JSONRPCNotification
	for _, x := range n.all {
		if x.Method == method {
			out = append(out, x)
		}
	}
	return out
}

// waitCount waits until exactly-at-least want notifications of method arrived.
func (n *notifications) waitCount(t *testing.T, method string, want int) []mcp.JSONRPCNotification {
	t.Helper()
	var got []mcp.JSONRPCNotification
	testwait.For(t, 10*time.Second, func() error {
		got = n.byMethod(method)
		if len(got) < want {
			return fmt.Errorf("%s: got %d notifications, want %d", method, len(got), want)
		}
		return nil
	})
	return got
}

// initialize runs the initialize handshake on c with the legacy protocol, and
// starts collecting its notifications.
func initialize(t *testing.T, c *client.Client) *notifications {
	t.Helper()
	n := &notifications{}
	c.OnNotification(n.add)
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_LEGACY_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "mcptestserver-test", Version: "0"}
	res, err := c.Initialize(testCtx(t), req)
	if err != nil {
		t.Fatalf("initialize: %v", err)
	}
	if res.ServerInfo.Version != serverVersion {
		t.Errorf("serverInfo.version = %q, want %q", res.ServerInfo.Version, serverVersion)
	}
	return n
}

// startStdio runs the binary over stdio and returns an initialized client.
func startStdio(t *testing.T, env []string, args ...string) (*client.Client, *notifications) {
	t.Helper()
	c := client.NewClient(transport.NewStdio(binPath, env, args...),
		client.WithProtocolVersion(mcp.LATEST_LEGACY_PROTOCOL_VERSION))
	if err := c.Start(context.Background()); err != nil {
		t.Fatalf("start stdio server: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c, initialize(t, c)
}

// httpServer is the binary running in --http or --sse mode.
type httpServer struct {
	URL    string
	cmd    *exec.Cmd
	stderr *strings.Builder
}

// startHTTP runs the binary with args (which must include --http or --sse),
// waits for its "listening URL" line and stops it with SIGTERM at cleanup,
// checking that it exits 0.
func startHTTP(t *testing.T, args ...string) *httpServer {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", args, err)
	}
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		io.Copy(io.Discard, stdout)
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no listening line from %v", args)
	}
	url, ok := strings.CutPrefix(line, "listening ")
	if !ok {
		cmd.Process.Kill()
		t.Fatalf("first stdout line = %q, want \"listening URL\" (stderr: %s)", line, stderr.String())
	}
	s := &httpServer{URL: url, cmd: cmd, stderr: &stderr}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exit after SIGTERM: %v (stderr: %s)", err, stderr.String())
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Errorf("server did not exit within 10s of SIGTERM")
		}
	})
	return s
}

func callTool(t *testing.T, c *client.Client, name string, args map[string]any) *mcp.CallToolResult {
	t.Helper()
	res, err := callToolErr(testCtx(t), c, name, args)
	if err != nil {
		t.Fatalf("call %s(%v): %v", name, args, err)
	}
	if res.IsError {
		t.Fatalf("call %s(%v): tool error: %s", name, args, resultText(res))
	}
	return res
}

func callToolErr(ctx context.Context, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, error) {
	req := mcp.CallToolRequest{}
	req.Params.Name = name
	req.Params.Arguments = args
	return c.CallTool(ctx, req)
}

func resultText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := mcp.AsTextContent(c); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}

// readCalls parses the calls log at path.
func readCalls(t *testing.T, path string) []callRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		t.Fatal(err)
	}
	var out []callRecord
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var rec callRecord
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("calls log line %d %q: %v", i+1, line, err)
		}
		out = append(out, rec)
	}
	return out
}
