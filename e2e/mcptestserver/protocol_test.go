package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// modernMeta is the _meta a 2026-07-28 request carries.
const modernMeta = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"raw","version":"0"},"io.modelcontextprotocol/clientCapabilities":{}}`

// rawStdio is the binary over stdio, spoken to one JSON-RPC line at a time.
type rawStdio struct {
	t   *testing.T
	in  io.WriteCloser
	out *bufio.Scanner
}

func startRawStdio(t *testing.T, args ...string) *rawStdio {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server exit after stdin closed: %v", err)
			}
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			t.Error("server did not exit within 10s of stdin closing")
		}
	})
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<20)
	return &rawStdio{t: t, in: in, out: sc}
}

// rpcReply is a JSON-RPC response.
type rpcReply struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

// call sends one request line and returns the response with its id.
func (r *rawStdio) call(id, line string) rpcReply {
	r.t.Helper()
	if _, err := io.WriteString(r.in, line+"\n"); err != nil {
		r.t.Fatal(err)
	}
	for r.out.Scan() {
		var rep rpcReply
		if err := json.Unmarshal(r.out.Bytes(), &rep); err != nil {
			r.t.Fatalf("stdout line %q: %v", r.out.Text(), err)
		}
		if string(rep.ID) == id {
			return rep
		}
	}
	r.t.Fatalf("no answer to %s (stdout ended: %v)", line, r.out.Err())
	return rpcReply{}
}

func wantError(t *testing.T, what string, rep rpcReply, code int) {
	t.Helper()
	if rep.Error == nil {
		t.Fatalf("%s: result %s, want error %d", what, rep.Result, code)
	}
	if rep.Error.Code != code {
		t.Fatalf("%s: error %d %q, want %d", what, rep.Error.Code, rep.Error.Message, code)
	}
}

func wantResult(t *testing.T, what string, rep rpcReply) {
	t.Helper()
	if rep.Error != nil {
		t.Fatalf("%s: error %d %q, want a result", what, rep.Error.Code, rep.Error.Message)
	}
}

const (
	rawInit1125   = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`
	rawDiscover   = `{"jsonrpc":"2.0","id":2,"method":"server/discover","params":{` + modernMeta + `}}`
	rawModernEcho = `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},` + modernMeta + `}}`
	rawLegacyEcho = `{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
	rawListen     = `{"jsonrpc":"2.0","id":5,"method":"subscriptions/listen","params":{` + modernMeta + `}}`
)

func TestProtocolOnly_LegacyStdio(t *testing.T) {
	s := startRawStdio(t, "--protocol-only", "2025-11-25")
	wantError(t, "server/discover", s.call("2", rawDiscover), mcp.METHOD_NOT_FOUND)
	wantError(t, "subscriptions/listen", s.call("5", rawListen), mcp.METHOD_NOT_FOUND)
	rep := s.call("1", rawInit1125)
	wantResult(t, "initialize", rep)
	var init mcp.InitializeResult
	if err := json.Unmarshal(rep.Result, &init); err != nil || init.ProtocolVersion != "2025-11-25" {
		t.Fatalf("initialize result %s (%v), want protocolVersion 2025-11-25", rep.Result, err)
	}
	io.WriteString(s.in, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	wantResult(t, "legacy tools/call", s.call("4", rawLegacyEcho))
	wantError(t, "tools/call with 2026-07-28 _meta", s.call("3", rawModernEcho), mcp.INVALID_REQUEST)
}

func TestProtocolOnly_ModernStdio(t *testing.T) {
	s := startRawStdio(t, "--protocol-only", "2026-07-28")
	wantError(t, "initialize", s.call("1", rawInit1125), mcp.METHOD_NOT_FOUND)
	rep := s.call("4", rawLegacyEcho)
	wantError(t, "tools/call without _meta", rep, mcp.UNSUPPORTED_PROTOCOL_VERSION)
	var data mcp.UnsupportedProtocolVersionData
	if err := json.Unmarshal(rep.Error.Data, &data); err != nil || !slices.Equal(data.Supported, []string{"2026-07-28"}) {
		t.Errorf("error data %s (%v), want supported [2026-07-28]", rep.Error.Data, err)
	}
	rep = s.call("2", rawDiscover)
	wantResult(t, "server/discover", rep)
	var disc mcp.DiscoverResult
	if err := json.Unmarshal(rep.Result, &disc); err != nil || !slices.Equal(disc.SupportedVersions, []string{"2026-07-28"}) {
		t.Errorf("server/discover result %s (%v), want supportedVersions [2026-07-28]", rep.Result, err)
	}
	rep = s.call("3", rawModernEcho)
	wantResult(t, "tools/call with _meta", rep)
	if !strings.Contains(string(rep.Result), `"hi"`) {
		t.Errorf("echo result %s", rep.Result)
	}
}

// An unpinned mcp-go client (server/discover first, then initialize) lands on the one
// revision the server speaks, over stdio and over HTTP.
func TestProtocolOnly_ClientNegotiates(t *testing.T) {
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		for _, tr := range []string{"stdio", "http"} {
			t.Run(version+"/"+tr, func(t *testing.T) {
				var c *client.Client
				var err error
				if tr == "stdio" {
					c, err = client.NewStdioMCPClient(binPath, nil, "--protocol-only", version)
				} else {
					srv := startHTTP(t, "--http", "127.0.0.1:0", "--protocol-only", version)
					c, err = client.NewStreamableHttpClient(srv.URL)
					if err == nil {
						err = c.Start(testCtx(t))
					}
				}
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				req := mcp.InitializeRequest{}
				req.Params.ClientInfo = mcp.Implementation{Name: "unpinned", Version: "0"}
				res, err := c.Initialize(testCtx(t), req)
				if err != nil {
					t.Fatal(err)
				}
				if res.ProtocolVersion != version {
					t.Errorf("negotiated %q, want %q", res.ProtocolVersion, version)
				}
				if text := resultText(callTool(t, c, "echo", map[string]any{"text": "hi"})); text != "hi" {
					t.Errorf("echo = %q", text)
				}
			})
		}
	}
}

// post sends one JSON-RPC message and returns the status and body.
func post(t *testing.T, url, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestProtocolOnly_LegacyHTTP(t *testing.T) {
	srv := startHTTP(t, "--http", "127.0.0.1:0", "--protocol-only", "2025-11-25")
	modern := map[string]string{"MCP-Protocol-Version": "2026-07-28", "Mcp-Method": "server/discover"}
	if status, body := post(t, srv.URL, rawDiscover, modern); status != http.StatusBadRequest {
		t.Errorf("server/discover with MCP-Protocol-Version 2026-07-28: %d %s, want 400", status, body)
	}
	if status, body := post(t, srv.URL, rawDiscover, nil); status != http.StatusOK || !strings.Contains(body, "-32601") {
		t.Errorf("server/discover without the header: %d %s, want 200 with -32601", status, body)
	}
	if status, body := post(t, srv.URL, rawInit1125, nil); status != http.StatusOK || !strings.Contains(body, `"protocolVersion":"2025-11-25"`) {
		t.Errorf("initialize: %d %s, want 200 with protocolVersion 2025-11-25", status, body)
	}
}

func TestProtocolOnly_ModernHTTP(t *testing.T) {
	srv := startHTTP(t, "--http", "127.0.0.1:0", "--protocol-only", "2026-07-28")
	if status, body := post(t, srv.URL, rawInit1125, nil); status != http.StatusNotFound || !strings.Contains(body, "-32601") {
		t.Errorf("initialize: %d %s, want 404 with -32601", status, body)
	}
	if status, body := post(t, srv.URL, rawLegacyEcho, nil); status != http.StatusBadRequest || !strings.Contains(body, "-32022") {
		t.Errorf("tools/call without _meta: %d %s, want 400 with -32022", status, body)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", resp.StatusCode)
	}
	// What a 2026-07-28 client sends is served, with no session.
	c, err := client.NewStreamableHttpClient(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	req := mcp.InitializeRequest{}
	req.Params.ClientInfo = mcp.Implementation{Name: "modern", Version: "0"}
	if _, err := c.Initialize(testCtx(t), req); err != nil {
		t.Fatal(err)
	}
	if text := resultText(callTool(t, c, "echo", map[string]any{"text": "stateless"})); text != "stateless" {
		t.Errorf("echo = %q", text)
	}
	if sid := c.GetSessionId(); sid != "" {
		t.Errorf("session id %q, want none", sid)
	}
}

func TestProtocolOnly_Rejected(t *testing.T) {
	for _, args := range [][]string{
		{"--protocol-only", "2024-11-05"},
		{"--protocol-only", "both"},
		{"--protocol-only", "2026-07-28", "--sse", "127.0.0.1:0"},
		{"--protocol-only", "2026-07-28", "--http", "127.0.0.1:0", "--expire-after", "3"},
	} {
		err := exec.Command(binPath, args...).Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != exitUsage {
			t.Errorf("%v: %v, want exit status %d", args, err, exitUsage)
		}
	}
}
