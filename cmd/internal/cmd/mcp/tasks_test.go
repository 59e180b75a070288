package mcp

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/spf13/cobra"
)

// runTTY is cmdtest's Run with stderr a terminal: the progress line shows.
func runTTY(t *testing.T, h *cmdtest.Hub, args ...string) cmdtest.Result {
	t.Helper()
	io, out, errOut := cmdkit.Test("")
	io.ErrTTY = true
	code := cmdkit.Run(context.Background(), args, io, cmdkit.Program{
		Factory: h.Factory,
		Root: func(f *cmdkit.Factory) *cobra.Command {
			root := &cobra.Command{Use: "mcpctl", SilenceUsage: true, SilenceErrors: true}
			cmdkit.AddGlobalFlags(root.PersistentFlags(), f)
			root.AddCommand(cmdNamed(t, args[0])(f))
			return root
		},
	})
	return cmdtest.Result{Code: code, Out: out.String(), ErrOut: errOut.String()}
}

// modernTaskServer answers like a 2026-07-28 server with the Tasks extension whose task
// t1 goes through three stages before it completes.
func modernTaskServer(withTasks bool) func(string, json.RawMessage) answer {
	var polls atomic.Int32
	return func(method string, params json.RawMessage) answer {
		ok := func(s string) answer { return answer{result: json.RawMessage(s)} }
		switch method {
		case "initialize":
			ext := `{}`
			if withTasks {
				ext = `{"io.modelcontextprotocol/tasks":{}}`
			}
			return ok(`{"protocolVersion":"2026-07-28","serverInfo":{"name":"fake"},"capabilities":{"tools":{},"extensions":` + ext + `}}`)
		case "tools/call":
			return ok(`{"resultType":"task","taskId":"t1","status":"working","statusMessage":"stage 0","pollIntervalMs":150}`)
		case "tasks/get":
			n := polls.Add(1)
			if n < 4 {
				return ok(fmt.Sprintf(`{"resultType":"complete","taskId":"t1","status":"working","statusMessage":"stage %d","pollIntervalMs":150}`, n))
			}
			return ok(`{"resultType":"complete","taskId":"t1","status":"completed","result":{"content":[{"type":"text","text":"done"}]}}`)
		}
		return answer{result: json.RawMessage(`{}`)}
	}
}

func TestToolsCallTask_WaitsWithTheStatusOnATerminal(t *testing.T) {
	h := cmdtest.New(t)
	b := startFakeBridge(t, modernTaskServer(true))
	readySession(t, h, "docs", b.socket)
	r := runTTY(t, h, "tools-call", "@docs", "job", "--task")
	if r.Code != 0 || strings.TrimSpace(r.Out) != "done" {
		t.Fatalf("tools-call --task: exit %d, out %q, err %q", r.Code, r.Out, r.ErrOut)
	}
	if !strings.Contains(r.ErrOut, "task t1: stage 3") {
		t.Fatalf("no status message on the terminal's progress line: %q", r.ErrOut)
	}
	var sent struct {
		Task json.RawMessage `json:"task"`
	}
	for _, m := range b.requests() {
		if m.Method == "tools/call" {
			_ = json.Unmarshal(m.Params, &sent)
		}
	}
	if string(sent.Task) != "{}" {
		t.Fatalf("tools/call without params.task: %s", sent.Task)
	}
}

func TestToolsCallTask_RefusedOnAServerWithoutTasks(t *testing.T) {
	h := cmdtest.New(t)
	b := startFakeBridge(t, modernTaskServer(false))
	readySession(t, h, "docs", b.socket)
	for _, flag := range []string{"--task", "--detach"} {
		r := run(t, h, "", "tools-call", "@docs", "job", flag)
		if r.Code != 1 || !strings.Contains(r.ErrOut, "does not support tasks") {
			t.Errorf("tools-call %s: exit %d, err %q; want 1, \"does not support tasks\"", flag, r.Code, r.ErrOut)
		}
	}
	if slices.Contains(methods(b.requests()), "tools/call") {
		t.Fatalf("a tools/call was sent: %v", methods(b.requests()))
	}
	if kinds := logKinds(t, h, "docs"); len(kinds) != 3 {
		t.Fatalf("events appended: %v", kinds)
	}
}
