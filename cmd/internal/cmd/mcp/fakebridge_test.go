package mcp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// answer is what the fake bridge does with one request: a result, a JSON-RPC error, or
// hang up without answering (a bridge that went away during the call).
type answer struct {
	notes  []json.RawMessage // notifications/progress params sent before the result
	result json.RawMessage
	err    *rpc.RPCError
	hangUp bool
}

// fakeBridge serves newline-delimited JSON-RPC on a Unix socket, as a session's bridge does,
// and records every request it is sent.
type fakeBridge struct {
	socket string
	answer func(method string, params json.RawMessage) answer

	mu   sync.Mutex
	reqs []rpc.Message
}

// startFakeBridge listens on a socket in a short temporary directory (sun_path holds 107
// bytes; t.TempDir() names can be longer) and serves until the test ends.
func startFakeBridge(t *testing.T, answerFn func(method string, params json.RawMessage) answer) *fakeBridge {
	t.Helper()
	dir, err := os.MkdirTemp("", "mcpb")
	if err != nil {
		t.Fatalf("fake bridge: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	b := &fakeBridge{socket: filepath.Join(dir, "b.sock"), answer: answerFn}
	ln, err := net.Listen("unix", b.socket)
	if err != nil {
		t.Fatalf("fake bridge: listen: %v", err)
	}
	var wg sync.WaitGroup
	conns := map[net.Conn]bool{}
	var cmu sync.Mutex
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cmu.Lock()
			conns[c] = true
			cmu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				b.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		cmu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		cmu.Unlock()
		wg.Wait()
	})
	return b
}

func (b *fakeBridge) serve(c net.Conn) {
	sc := bufio.NewScanner(c)
	sc.Buffer(make([]byte, 0, 4<<10), rpc.DefaultMaxLine)
	for sc.Scan() {
		var m rpc.Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return
		}
		b.mu.Lock()
		b.reqs = append(b.reqs, m)
		b.mu.Unlock()
		if m.ID == nil { // a notification (notifications/cancelled): nothing to answer
			continue
		}
		a := b.answer(m.Method, m.Params)
		for _, n := range a.notes {
			if _, err := c.Write(rpc.AppendNotification(nil, "notifications/progress", n)); err != nil {
				return
			}
		}
		var line []byte
		switch {
		case a.hangUp:
			return
		case a.err != nil:
			line = rpc.AppendError(nil, m.ID, a.err)
		default:
			line = rpc.AppendResult(nil, m.ID, a.result)
		}
		if _, err := c.Write(line); err != nil {
			return
		}
	}
}

// requests returns the requests (not notifications) the bridge was sent, in order.
func (b *fakeBridge) requests() []rpc.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []rpc.Message
	for _, m := range b.reqs {
		if m.ID != nil {
			out = append(out, m)
		}
	}
	return out
}

// onlyRequest returns the one request the bridge was sent, failing the test otherwise.
func (b *fakeBridge) onlyRequest(t *testing.T) rpc.Message {
	t.Helper()
	reqs := b.requests()
	if len(reqs) != 1 {
		t.Fatalf("bridge got %d requests (%v), want 1", len(reqs), methods(reqs))
	}
	return reqs[0]
}

func methods(ms []rpc.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Method)
	}
	return out
}

// readySession appends what makes session name ready on this node with its bridge on
// socket: created, bridge_spawned (this test process as the bridge, so liveness checks
// pass) and bridge_ready, all of generation 1.
func readySession(t *testing.T, h *cmdtest.Hub, name, socket string) {
	t.Helper()
	h.Created(t, name)
	start, err := proc.StartTime(os.Getpid())
	if err != nil {
		t.Fatalf("start time of the test process: %v", err)
	}
	sp := events.New(events.KindBridgeSpawned, cmdtest.Node, name, 1)
	sp.PID, sp.PIDStartTime, sp.Socket = os.Getpid(), start, socket
	h.Append(t, sp)
	rd := events.New(events.KindBridgeReady, cmdtest.Node, name, 1)
	rd.ServerName, rd.ServerVersion, rd.ProtocolVersion = "fake", "1.0", "2025-06-18"
	h.Append(t, rd)
}

// newSessionWithBridge is an in-memory hub with session @docs ready on a fake bridge that
// answers like a small MCP server (serverAnswer).
func newSessionWithBridge(t *testing.T) (*cmdtest.Hub, *fakeBridge) {
	t.Helper()
	h := cmdtest.New(t)
	b := startFakeBridge(t, serverAnswer)
	readySession(t, h, "docs", b.socket)
	return h, b
}

// cmdNamed returns a constructor for the MCP command called name, for cmdtest's Run.
func cmdNamed(t *testing.T, name string) func(*cmdkit.Factory) *cobra.Command {
	t.Helper()
	found := false
	for _, c := range NewMCPCommands(cmdkit.NewFactory(&cmdkit.IOStreams{})) {
		found = found || c.Name() == name
	}
	if !found {
		t.Fatalf("no MCP command named %q", name)
	}
	return func(f *cmdkit.Factory) *cobra.Command {
		for _, c := range NewMCPCommands(f) {
			if c.Name() == name {
				return c
			}
		}
		return nil
	}
}

// run runs the MCP command args[0] with the rest of args, against h.
func run(t *testing.T, h *cmdtest.Hub, stdin string, args ...string) cmdtest.Result {
	t.Helper()
	return h.Run(t, cmdNamed(t, args[0]), stdin, args...)
}

// Canned MCP results, in the shapes of the MCP specification.
const (
	toolsListResult = `{"tools":[` +
		`{"name":"search","title":"Search the docs","description":"Full-text search.\nSecond line.","inputSchema":{"type":"object","properties":{"query":{"type":"string"}},"required":["query"]}},` +
		`{"name":"echo","description":"Echo the arguments back","inputSchema":{"type":"object"}}]}`
	resourcesListResult = `{"resources":[{"uri":"file:///readme.md","name":"readme","mimeType":"text/markdown"}]}`
	templatesListResult = `{"resourceTemplates":[{"uriTemplate":"file:///{path}","name":"file","description":"A file by path\nmore"}]}`
	promptsListResult   = `{"prompts":[{"name":"greet","description":"Say hello","arguments":[{"name":"who","required":true},{"name":"style"}]}]}`
)

// serverAnswer answers like a small MCP server. tools/call "echo" returns its arguments as
// text; "fail" reports a tool error (isError); "structured" returns only structuredContent;
// "hangup" makes the bridge go away; any other tool is a JSON-RPC error.
func serverAnswer(method string, params json.RawMessage) answer {
	ok := func(s string) answer { return answer{result: json.RawMessage(s)} }
	switch method {
	case "tools/list":
		return ok(toolsListResult)
	case "tools/call":
		var p struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"`
		}
		_ = json.Unmarshal(params, &p)
		switch p.Name {
		case "echo":
			text, _ := json.Marshal(string(p.Arguments))
			return ok(`{"content":[{"type":"text","text":` + string(text) + `}],"isError":false}`)
		case "fail":
			return ok(`{"content":[{"type":"text","text":"boom: the index is gone\ndetails"}],"isError":true}`)
		case "structured":
			return ok(`{"content":[],"structuredContent":{"count":3}}`)
		case "hangup":
			return answer{hangUp: true}
		case "progress":
			// Three steps for the call's own token, and one for a token it never sent.
			var m struct {
				Meta struct {
					Token json.RawMessage `json:"progressToken"`
				} `json:"_meta"`
			}
			_ = json.Unmarshal(params, &m)
			a := ok(`{"content":[{"type":"text","text":"indexed"}]}`)
			for i, step := range []string{`"progress":1,"total":3,"message":"indexing a"`, `"progress":2,"total":3,"message":"indexing b"`, `"progress":3,"total":3,"message":"indexing c"`} {
				if i == 1 {
					a.notes = append(a.notes, json.RawMessage(`{"progressToken":"someone-else","progress":9,"message":"not yours"}`))
				}
				a.notes = append(a.notes, json.RawMessage(`{"progressToken":`+string(m.Meta.Token)+`,`+step+`}`))
			}
			return a
		}
		return answer{err: &rpc.RPCError{Code: -32602, Message: "Unknown tool: " + p.Name}}
	case "resources/list":
		return ok(resourcesListResult)
	case "resources/templates/list":
		return ok(templatesListResult)
	case "resources/read":
		var p struct{ URI string }
		_ = json.Unmarshal(params, &p)
		if p.URI == "file:///logo.png" {
			return ok(`{"contents":[{"uri":"file:///logo.png","mimeType":"image/png","blob":"iVBORw0KGgo="}]}`)
		}
		return ok(`{"contents":[{"uri":"file:///readme.md","mimeType":"text/markdown","text":"# Readme"}]}`)
	case "resources/subscribe", "resources/unsubscribe", "ping", "logging/setLevel":
		return ok(`{}`)
	case "prompts/list":
		return ok(promptsListResult)
	case "prompts/get":
		return ok(`{"description":"Say hello","messages":[{"role":"user","content":{"type":"text","text":"Hello, Ada!"}}]}`)
	case "completion/complete":
		return ok(`{"completion":{"values":["formal","friendly"],"hasMore":false}}`)
	}
	return answer{err: &rpc.RPCError{Code: -32601, Message: "Method not found"}}
}

// jsonEqual reports whether a and b hold the same JSON value.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatalf("not JSON: %v: %s", err, a)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	ja, _ := json.Marshal(va)
	jb, _ := json.Marshal(vb)
	return string(ja) == string(jb)
}

// logKinds returns the kinds of the events of session in the log, in order.
func logKinds(t *testing.T, h *cmdtest.Hub, session string) []events.Kind {
	t.Helper()
	var kinds []events.Kind
	err := h.Log.Read(context.Background(), events.Query{Session: session}, func(e events.Event) error {
		kinds = append(kinds, e.Type)
		return nil
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		t.Fatalf("read the log: %v", err)
	}
	return kinds
}
