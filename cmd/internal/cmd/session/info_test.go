package session

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// recorder wraps a handler and keeps the methods it was asked for.
type recorder struct {
	mu      sync.Mutex
	methods []string
	next    handler
}

func (r *recorder) handle(method string, params json.RawMessage) (any, *rpc.RPCError) {
	r.mu.Lock()
	r.methods = append(r.methods, method)
	r.mu.Unlock()
	return r.next(method, params)
}

func (r *recorder) asked() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.methods)
}

func TestInfo_ShowsTheServerItsCapabilitiesAndTools(t *testing.T) {
	t.Run("human: session, server, protocol, capabilities, tools, instructions", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		seq := head(t, h)
		r := h.Run(t, NewCmdInfo, "", "info", "@s")
		want := fmt.Sprintf("session:   @s (ready, generation 1, bridge pid %d)\n", os.Getpid()) +
			"server:    testserver 1.2.3 — mcptestserver\n" +
			"protocol:  2025-11-25\n" +
			"supports:  logging, tools\n" +
			"tools:     a, b\n" +
			"instructions:\n  use a\n  then b\n"
		if r.Code != 0 || r.Out != want || r.ErrOut != "" {
			t.Errorf("info @s: exit %d, stderr %q, stdout\n%s\nwant\n%s", r.Code, r.ErrOut, r.Out, want)
		}
		if got := head(t, h); got != seq {
			t.Errorf("info @s on a ready session moved the log from %d to %d, want nothing appended", seq, got)
		}
	})
	t.Run("--json: the session, the initialize result and the tool names", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		r := h.Run(t, NewCmdInfo, "", "info", "@s", "--json")
		var got struct {
			Session struct {
				Name       string `json:"session"`
				Status     string
				Generation uint64
			}
			Initialize struct {
				ServerInfo struct{ Name string }
			}
			Tools []string
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
			t.Fatalf("info @s --json: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
		}
		if got.Session.Name != "s" || got.Session.Status != "ready" || got.Session.Generation != 1 ||
			got.Initialize.ServerInfo.Name != "testserver" || !slices.Equal(got.Tools, []string{"a", "b"}) {
			t.Errorf("info @s --json = %s, want session s ready at generation 1, serverInfo testserver, tools [a b]", r.Out)
		}
	})
	t.Run("a server without tools: tools/list is not asked, tools is []", func(t *testing.T) {
		h := cmdtest.New(t)
		rec := &recorder{next: func(method string, _ json.RawMessage) (any, *rpc.RPCError) {
			return map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{"prompts": map[string]any{}}}, nil
		}}
		openSession(t, h, "s", fakeBridge(t, rec.handle))
		r := h.Run(t, NewCmdInfo, "", "info", "@s", "--json")
		if r.Code != 0 || !strings.Contains(r.Out, `"tools": []`) {
			t.Errorf("info @s --json of a server without tools: exit %d, stdout %s; want tools []", r.Code, r.Out)
		}
		if got := rec.asked(); !slices.Equal(got, []string{"initialize"}) {
			t.Errorf("info @s asked the bridge %q, want only initialize", got)
		}
		r = h.Run(t, NewCmdInfo, "", "info", "@s")
		if r.Code != 0 || !strings.Contains(r.Out, "supports:  prompts\n") || strings.Contains(r.Out, "tools:") {
			t.Errorf("info @s of a server without tools: exit %d, stdout %q; want supports prompts and no tools line", r.Code, r.Out)
		}
	})
}

// A server that pages its tools: info names the tools of every page, and a server that
// repeats its cursor is stopped (exit 3) instead of being asked forever.
func TestInfo_ListsToolsOfEveryPage(t *testing.T) {
	paged := func(repeat bool) handler {
		return func(method string, params json.RawMessage) (any, *rpc.RPCError) {
			if method == "initialize" {
				return map[string]any{"protocolVersion": "2025-11-25", "capabilities": map[string]any{"tools": map[string]any{}}}, nil
			}
			var p struct{ Cursor string }
			_ = json.Unmarshal(params, &p)
			switch {
			case repeat:
				return map[string]any{"tools": []any{map[string]any{"name": "a"}}, "nextCursor": "again"}, nil
			case p.Cursor == "":
				return map[string]any{"tools": []any{map[string]any{"name": "a"}, map[string]any{"name": "b"}}, "nextCursor": "2"}, nil
			default:
				return map[string]any{"tools": []any{map[string]any{"name": "c"}}}, nil
			}
		}
	}
	h := cmdtest.New(t)
	openSession(t, h, "s", fakeBridge(t, paged(false)))
	r := h.Run(t, NewCmdInfo, "", "info", "@s")
	if r.Code != 0 || !strings.Contains(r.Out, "tools:     a, b, c\n") {
		t.Errorf("info @s of a paged server: exit %d, stdout %q, stderr %q; want tools a, b, c", r.Code, r.Out, r.ErrOut)
	}
	h = cmdtest.New(t)
	openSession(t, h, "s", fakeBridge(t, paged(true)))
	r = h.Run(t, NewCmdInfo, "", "info", "@s")
	if r.Code != 3 || !strings.Contains(r.ErrOut, `nextCursor "again"`) {
		t.Errorf("info @s of a server repeating its cursor: exit %d, stderr %q; want 3 naming the cursor", r.Code, r.ErrOut)
	}
}

func TestInfo_RestartsABridgeThatIsGone(t *testing.T) {
	h := cmdtest.New(t)
	sock := fakeBridge(t, mcpServer)
	c := event(events.KindCreated, "s", 1)
	c.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
	h.Append(t, c)
	sp := event(events.KindBridgeSpawned, "s", 1)
	sp.PID, sp.Socket = 4242, sock // no start time: never taken for alive
	h.Append(t, sp)
	h.Append(t, event(events.KindBridgeReady, "s", 1))
	superviseOnWait(t, h, "s", sock)
	seq := head(t, h)
	r := h.Run(t, NewCmdInfo, "", "info", "@s")
	want := fmt.Sprintf("session:   @s (ready, generation 2, bridge pid %d)\n", os.Getpid())
	if r.Code != 0 || !strings.HasPrefix(r.Out, want) {
		t.Errorf("info @s with its bridge gone: exit %d, stderr %q, stdout %q; want it to start with %q", r.Code, r.ErrOut, r.Out, want)
	}
	got := appendedSince(t, h, "s", seq)
	if len(got) == 0 || got[0].Type != events.KindRestartRequested || got[0].Generation != 2 ||
		got[0].Reason != "implicit: info found bridge pid 4242 not running" || got[0].Fresh {
		t.Errorf("info @s with its bridge gone appended %+v, want first an implicit, not fresh, restart_requested for generation 2", got)
	}
	if n := restartsIn(got); n != 1 {
		t.Errorf("info @s with its bridge gone appended %d restart_requested, want 1", n)
	}
}

func TestInfo_ExitCodes(t *testing.T) {
	t.Run("the server answers initialize with an error: exit 2", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, func(string, json.RawMessage) (any, *rpc.RPCError) {
			return nil, &rpc.RPCError{Code: -32603, Message: "boom"}
		}))
		r := h.Run(t, NewCmdInfo, "", "info", "@s")
		if r.Code != 2 || !strings.Contains(r.ErrOut, "initialize on @s: server error -32603: boom") || r.Out != "" {
			t.Errorf("info @s, initialize failing: exit %d, stdout %q, stderr %q; want 2, server error", r.Code, r.Out, r.ErrOut)
		}
	})
	t.Run("the server refuses the credentials: exit 4", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, func(string, json.RawMessage) (any, *rpc.RPCError) {
			return nil, &rpc.RPCError{Code: rpc.CodeUpstreamUnavailable, Message: "unauthorized",
				Data: json.RawMessage(`{"reason":"unauthorized","detail":"HTTP 401"}`)}
		}))
		r := h.Run(t, NewCmdInfo, "", "info", "@s")
		if r.Code != 4 || !strings.Contains(r.ErrOut, "initialize on @s") {
			t.Errorf("info @s, unauthorized: exit %d, stderr %q; want 4", r.Code, r.ErrOut)
		}
	})
	t.Run("the bridge does not answer before --timeout: exit 3, not re-sent", func(t *testing.T) {
		h := cmdtest.New(t)
		release := make(chan struct{})
		sock := fakeBridge(t, func(string, json.RawMessage) (any, *rpc.RPCError) {
			<-release
			return nil, &rpc.RPCError{Code: -32603, Message: "too late"}
		})
		t.Cleanup(func() { close(release) }) // runs before the fake bridge's cleanup
		openSession(t, h, "s", sock)
		r := h.Run(t, NewCmdInfo, "", "info", "@s", "--timeout", "200ms")
		if r.Code != 3 || !strings.Contains(r.ErrOut, "initialize on @s") || !strings.Contains(r.ErrOut, "not re-sent") {
			t.Errorf("info @s --timeout 200ms, no answer: exit %d, stderr %q; want 3, cancelled and not re-sent", r.Code, r.ErrOut)
		}
	})
	t.Run("an unknown session: exit 1, not found, nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdInfo, "", "info", "@nosuch")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@nosuch: not found") {
			t.Errorf("info @nosuch: exit %d, stderr %q; want 1, not found", r.Code, r.ErrOut)
		}
		if got := head(t, h); got != 0 {
			t.Errorf("info @nosuch appended %d events, want none", got)
		}
	})
	t.Run("a closed session: exit 1, closed", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "s", 1))
		r := h.Run(t, NewCmdInfo, "", "info", "@s")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "info @s: session closed") {
			t.Errorf("info of a closed @s: exit %d, stderr %q; want 1, session closed", r.Code, r.ErrOut)
		}
	})
	t.Run("another node's session not opened --remote: exit 1, refused as a remote call", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdInfo, "", "info", "@s@n2")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@s@n2 is not open to calls from other nodes") {
			t.Errorf("info @s@n2: exit %d, stderr %q; want 1, not open to calls from other nodes", r.Code, r.ErrOut)
		}
	})
}
