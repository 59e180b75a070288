package mcp

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
	"github.com/spf13/cobra"
)

// Exit codes the commands promise (clierr): the tests spell them out as the user sees them.
const (
	exitOK      = 0
	exitUsage   = 1
	exitServer  = 2
	exitNetwork = 3
)

func TestMCPCommands_EveryRequestHasACommand(t *testing.T) {
	want := map[string]string{
		"tools-list": "tools/list", "tools-get": "tools/list", "tools-call": "tools/call",
		"resources-list": "resources/list", "resources-templates-list": "resources/templates/list",
		"resources-read": "resources/read", "resources-subscribe": "resources/subscribe",
		"resources-unsubscribe": "resources/unsubscribe", "prompts-list": "prompts/list",
		"prompts-get": "prompts/get", "ping": "ping", "logging-set-level": "logging/setLevel",
		"complete": "completion/complete",
	}
	got := map[string]string{}
	for _, s := range mcpSpecs() {
		got[strings.Fields(s.use)[0]] = s.method
	}
	for name, method := range want {
		if got[name] != method {
			t.Errorf("command %s sends %q, want %q", name, got[name], method)
		}
	}
	if len(got) != len(want) {
		t.Errorf("commands %v, want exactly %d", got, len(want))
	}
}

func TestMCPCommands_NeedASessionFirst(t *testing.T) {
	h := cmdtest.New(t)
	for _, name := range []string{"tools-list", "tools-call", "resources-read", "prompts-get", "ping", "complete"} {
		t.Run(name+" without @session", func(t *testing.T) {
			r := run(t, h, "", name)
			if r.Code != exitUsage || !strings.Contains(r.ErrOut, name+" needs a session (@name)") {
				t.Errorf("%s: exit %d, stderr %q; want %d and 'needs a session'", name, r.Code, r.ErrOut, exitUsage)
			}
			if !strings.Contains(r.ErrOut, "Try: mcpctl @name "+name) {
				t.Errorf("%s: stderr %q, want the hint 'mcpctl @name %s …'", name, r.ErrOut, name)
			}
		})
	}
	t.Run("an invalid session name", func(t *testing.T) {
		r := run(t, h, "", "ping", "@no/slash")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "Try: names match") {
			t.Errorf("ping @no/slash: exit %d, stderr %q; want %d and the name rule", r.Code, r.ErrOut, exitUsage)
		}
	})
	t.Run("a session that does not exist", func(t *testing.T) {
		r := run(t, h, "", "ping", "@ghost")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "ghost") || !strings.Contains(r.ErrOut, "Try: mcpctl connect <server> @ghost") {
			t.Errorf("ping @ghost: exit %d, stderr %q; want %d, the name and a connect hint", r.Code, r.ErrOut, exitUsage)
		}
		if r.Out != "" {
			t.Errorf("ping @ghost: stdout %q, want nothing", r.Out)
		}
	})
	t.Run("a closed session", func(t *testing.T) {
		h.Created(t, "gone")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "gone", 1))
		r := run(t, h, "", "ping", "@gone")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "Try: open it again with: mcpctl connect <server> @gone") {
			t.Errorf("ping @gone: exit %d, stderr %q; want %d and a hint to connect again", r.Code, r.ErrOut, exitUsage)
		}
	})
}

func TestMCPCommands_CheckTheirArgumentCount(t *testing.T) {
	h := cmdtest.New(t)
	for _, tc := range []struct {
		args []string
		n    int
	}{
		{[]string{"tools-list", "@docs", "extra"}, 1},
		{[]string{"resources-list", "@docs", "extra"}, 1},
		{[]string{"resources-templates-list", "@docs", "x"}, 1},
		{[]string{"prompts-list", "@docs", "x"}, 1},
		{[]string{"ping", "@docs", "x"}, 1},
		{[]string{"tools-get", "@docs"}, 0},
		{[]string{"tools-get", "@docs", "a", "b"}, 2},
		{[]string{"tools-call", "@docs"}, 0},
		{[]string{"resources-read", "@docs"}, 0},
		{[]string{"resources-read", "@docs", "u1", "u2"}, 2},
		{[]string{"resources-subscribe", "@docs"}, 0},
		{[]string{"resources-unsubscribe", "@docs", "u1", "u2"}, 2},
		{[]string{"prompts-get", "@docs"}, 0},
		{[]string{"logging-set-level", "@docs"}, 0},
		{[]string{"logging-set-level", "@docs", "info", "debug"}, 2},
		{[]string{"complete", "@docs", "--prompt", "greet"}, 0},
		{[]string{"complete", "@docs", "--prompt", "greet", "a", "b", "c"}, 3},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			r := run(t, h, "", tc.args...)
			want := "wrong number of arguments (" + strconv.Itoa(tc.n) + ")"
			if r.Code != exitUsage || !strings.Contains(r.ErrOut, want) {
				t.Errorf("%q: exit %d, stderr %q; want %d and %q", tc.args, r.Code, r.ErrOut, exitUsage, want)
			}
			if !strings.Contains(r.ErrOut, "Try: mcpctl "+tc.args[0]+" @session") {
				t.Errorf("%q: stderr %q, want the usage as a hint", tc.args, r.ErrOut)
			}
		})
	}
}

func TestToolsList_OneLinePerToolAndTheSpecShapeInJSON(t *testing.T) {
	h, b := newSessionWithBridge(t)
	t.Run("sends tools/list with empty params", func(t *testing.T) {
		r := run(t, h, "", "tools-list", "@docs")
		if r.Code != exitOK || r.ErrOut != "" {
			t.Fatalf("tools-list @docs: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		req := b.onlyRequest(t)
		if req.Method != "tools/list" || string(req.Params) != "{}" {
			t.Errorf("bridge got %s %s, want tools/list {}", req.Method, req.Params)
		}
		lines := strings.Split(strings.TrimRight(r.Out, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("tools-list printed %q, want 2 lines", r.Out)
		}
		// The title wins over the description; without one, the description's first line.
		if f := strings.Fields(lines[0]); shownName(f[0]) != "search" || !strings.Contains(lines[0], "Search the docs") {
			t.Errorf("line 1 = %q, want search and its title", lines[0])
		}
		if f := strings.Fields(lines[1]); shownName(f[0]) != "echo" || !strings.Contains(lines[1], "Echo the arguments back") {
			t.Errorf("line 2 = %q, want echo and its description", lines[1])
		}
	})
	t.Run("--json prints the result as the server sent it", func(t *testing.T) {
		r := run(t, h, "", "tools-list", "@docs", "--json")
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(toolsListResult)) {
			t.Errorf("tools-list --json: exit %d, stdout %s; want %s", r.Code, r.Out, toolsListResult)
		}
	})
}

func TestToolsGet_ShowsOneToolOrSuggestsAName(t *testing.T) {
	h, _ := newSessionWithBridge(t)
	t.Run("a tool by name", func(t *testing.T) {
		r := run(t, h, "", "tools-get", "@docs", "search")
		if r.Code != exitOK {
			t.Fatalf("tools-get search: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		for _, want := range []string{"search\n", "Full-text search.\nSecond line.\n", "input schema:\n", `"required": [`} {
			if !strings.Contains(r.Out, want) {
				t.Errorf("tools-get search printed %q, want it to contain %q", r.Out, want)
			}
		}
	})
	t.Run("--json prints the tool object alone", func(t *testing.T) {
		r := run(t, h, "", "tools-get", "@docs", "echo", "--json")
		want := `{"name":"echo","description":"Echo the arguments back","inputSchema":{"type":"object"}}`
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(want)) {
			t.Errorf("tools-get echo --json: exit %d, stdout %s; want %s", r.Code, r.Out, want)
		}
	})
	t.Run("a misspelt name is a usage error with a suggestion", func(t *testing.T) {
		r := run(t, h, "", "tools-get", "@docs", "serch")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, `no tool "serch"`) || !strings.Contains(r.ErrOut, "Try: did you mean search?") {
			t.Errorf("tools-get serch: exit %d, stderr %q; want %d, no tool and a suggestion", r.Code, r.ErrOut, exitUsage)
		}
		if r.Out != "" {
			t.Errorf("tools-get serch: stdout %q, want nothing", r.Out)
		}
	})
	t.Run("an unknown name lists the tools", func(t *testing.T) {
		r := run(t, h, "", "tools-get", "@docs", "translate")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "Try: tools: echo, search") {
			t.Errorf("tools-get translate: exit %d, stderr %q; want %d and the sorted tool names", r.Code, r.ErrOut, exitUsage)
		}
	})
}

func TestToolsCall_ArgumentsReachTheServer(t *testing.T) {
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string // the params the bridge gets: every call asks for progress
	}{
		{"k:=v words, JSON values typed", []string{"query:=nats", "limit:=5", "exact:=true", "tags:=[\"a\"]"}, "",
			`{"_meta":{"progressToken":"mcpctl-progress"},"name":"echo","arguments":{"query":"nats","limit":5,"exact":true,"tags":["a"]}}`},
		{"inline JSON object", []string{`{"query": "nats", "limit": 5}`}, "",
			`{"_meta":{"progressToken":"mcpctl-progress"},"name":"echo","arguments":{"query":"nats","limit":5}}`},
		{"JSON on stdin with -", []string{"-"}, `{"query":"from stdin"}`,
			`{"_meta":{"progressToken":"mcpctl-progress"},"name":"echo","arguments":{"query":"from stdin"}}`},
		{"no arguments: an empty object", nil, "", `{"_meta":{"progressToken":"mcpctl-progress"},"name":"echo","arguments":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, b := newSessionWithBridge(t)
			r := run(t, h, tc.stdin, append([]string{"tools-call", "@docs", "echo"}, tc.args...)...)
			if r.Code != exitOK || r.ErrOut != "" {
				t.Fatalf("tools-call echo %q: exit %d, stderr %q", tc.args, r.Code, r.ErrOut)
			}
			req := b.onlyRequest(t)
			if req.Method != "tools/call" || !jsonEqual(t, req.Params, []byte(tc.want)) {
				t.Errorf("tools-call echo %q: bridge got %s %s, want tools/call %s", tc.args, req.Method, req.Params, tc.want)
			}
			// echo answers with the arguments as text: the human output is that text.
			var p struct{ Arguments json.RawMessage }
			_ = json.Unmarshal(req.Params, &p)
			if r.Out != string(p.Arguments)+"\n" {
				t.Errorf("tools-call echo %q printed %q, want the text content %s", tc.args, r.Out, p.Arguments)
			}
		})
	}
}

func TestToolsCall_BadArgumentsAreNotSent(t *testing.T) {
	h, b := newSessionWithBridge(t)
	for _, tc := range []struct {
		name  string
		args  []string
		stdin string
		want  string
	}{
		{"= instead of :=", []string{"query=nats"}, "", "Try: did you mean query:=nats? Arguments use :="},
		{"no separator", []string{"query"}, "", `malformed argument "query": expected key:=value`},
		{"empty key", []string{":=x"}, "", "empty key"},
		{"inline JSON that is not an object", []string{`{"query":`}, "", "inline JSON"},
		{"stdin that is not an object", []string{"-"}, `[1,2]`, "JSON on stdin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := run(t, h, tc.stdin, append([]string{"tools-call", "@docs", "echo"}, tc.args...)...)
			if r.Code != exitUsage || !strings.Contains(r.ErrOut, tc.want) {
				t.Errorf("tools-call echo %q: exit %d, stderr %q; want %d and %q", tc.args, r.Code, r.ErrOut, exitUsage, tc.want)
			}
			if r.Out != "" {
				t.Errorf("tools-call echo %q: stdout %q, want nothing", tc.args, r.Out)
			}
		})
	}
	if reqs := b.requests(); len(reqs) != 0 {
		t.Errorf("the bridge got %v, want no request for bad arguments", methods(reqs))
	}
}

func TestToolsCall_ResultsAndErrors(t *testing.T) {
	h, _ := newSessionWithBridge(t)
	t.Run("--json prints the CallToolResult as sent", func(t *testing.T) {
		r := run(t, h, "", "tools-call", "@docs", "echo", "q:=x", "--json")
		want := `{"content":[{"type":"text","text":"{\"q\":\"x\"}"}],"isError":false}`
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(want)) {
			t.Errorf("tools-call --json: exit %d, stdout %s; want %s", r.Code, r.Out, want)
		}
	})
	t.Run("structuredContent without content is printed as JSON", func(t *testing.T) {
		r := run(t, h, "", "tools-call", "@docs", "structured")
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(`{"count":3}`)) {
			t.Errorf("tools-call structured: exit %d, stdout %q; want {\"count\":3}", r.Code, r.Out)
		}
	})
	t.Run("a tool error (isError) exits 2 and still prints the content", func(t *testing.T) {
		r := run(t, h, "", "tools-call", "@docs", "fail")
		if r.Code != exitServer {
			t.Errorf("tools-call fail: exit %d, want %d", r.Code, exitServer)
		}
		if !strings.Contains(r.Out, "boom: the index is gone") {
			t.Errorf("tools-call fail: stdout %q, want the tool's text", r.Out)
		}
		if want := "mcpctl: the tool reported an error: boom: the index is gone\n"; r.ErrOut != want {
			t.Errorf("tools-call fail: stderr %q, want %q (the first line of the text)", r.ErrOut, want)
		}
	})
	t.Run("a tool error with --json: the result on stdout, the error as JSON on stderr", func(t *testing.T) {
		r := run(t, h, "", "tools-call", "@docs", "fail", "--json")
		var res struct{ IsError bool }
		if err := json.Unmarshal([]byte(r.Out), &res); err != nil || !res.IsError || r.Code != exitServer {
			t.Errorf("tools-call fail --json: exit %d, stdout %s; want %d and the result with isError", r.Code, r.Out, exitServer)
		}
		var e struct {
			Error string
			Code  int
		}
		if err := json.Unmarshal([]byte(r.ErrOut), &e); err != nil || e.Code != exitServer || !strings.Contains(e.Error, "the tool reported an error") {
			t.Errorf("tools-call fail --json: stderr %q, want {\"error\": …, \"code\": 2}", r.ErrOut)
		}
	})
	t.Run("a JSON-RPC error from the server exits 2", func(t *testing.T) {
		r := run(t, h, "", "tools-call", "@docs", "nosuchtool")
		want := "mcpctl: tools/call on @docs: server error -32602: Unknown tool: nosuchtool\n"
		if r.Code != exitServer || r.ErrOut != want {
			t.Errorf("tools-call nosuchtool: exit %d, stderr %q; want %d and %q", r.Code, r.ErrOut, exitServer, want)
		}
		if r.Out != "" {
			t.Errorf("tools-call nosuchtool: stdout %q, want nothing", r.Out)
		}
	})
	t.Run("a bridge that goes away during the call exits 3 and says it was not re-sent", func(t *testing.T) {
		r := run(t, h, "", "tools-call", "@docs", "hangup")
		if r.Code != exitNetwork || !strings.Contains(r.ErrOut, "the bridge went away during the call; it was not re-sent") {
			t.Errorf("tools-call hangup: exit %d, stderr %q; want %d and 'went away'", r.Code, r.ErrOut, exitNetwork)
		}
		if !strings.Contains(r.ErrOut, "Try: mcpctl events --session docs -n 5") {
			t.Errorf("tools-call hangup: stderr %q, want a hint to look at the events", r.ErrOut)
		}
	})
}

func TestMCPCommands_BridgeGone(t *testing.T) {
	// The session is ready in the log, but nothing listens on its socket: the command asks
	// for a new generation (an implicit restart) and, with no supervisor to start one in
	// an in-memory hub, gives up at --timeout with exit 3.
	h := cmdtest.New(t)
	readySession(t, h, "docs", "/nonexistent/mcpctl-test/b.sock")
	r := run(t, h, "", "ping", "@docs", "--timeout", "1s")
	if r.Code != exitNetwork || !strings.Contains(r.ErrOut, "waiting for @docs") || !strings.Contains(r.ErrOut, "--timeout") {
		t.Errorf("ping on a gone bridge: exit %d, stderr %q; want %d and a timeout waiting for @docs", r.Code, r.ErrOut, exitNetwork)
	}
	kinds := logKinds(t, h, "docs")
	if len(kinds) == 0 || kinds[len(kinds)-1] != events.KindRestartRequested {
		t.Errorf("events of @docs = %v, want a restart_requested last", kinds)
	}
}

func TestResources_ListReadTemplatesSubscribe(t *testing.T) {
	h, b := newSessionWithBridge(t)
	for _, tc := range []struct {
		args       []string
		wantMethod string
		wantParams string
		wantOut    []string
	}{
		{[]string{"resources-list", "@docs"}, "resources/list", `{}`, []string{"file:///readme.md", "readme", "text/markdown"}},
		{[]string{"resources-templates-list", "@docs"}, "resources/templates/list", `{}`, []string{"file:///{path}", "file", "A file by path"}},
		{[]string{"resources-read", "@docs", "file:///readme.md"}, "resources/read", `{"uri":"file:///readme.md"}`, []string{"# Readme\n"}},
		{[]string{"resources-read", "@docs", "file:///logo.png"}, "resources/read", `{"uri":"file:///logo.png"}`, []string{"[file:///logo.png image/png, 12 bytes base64]"}},
		{[]string{"resources-subscribe", "@docs", "file:///readme.md"}, "resources/subscribe", `{"uri":"file:///readme.md"}`, []string{"subscribed\n"}},
		{[]string{"resources-unsubscribe", "@docs", "file:///readme.md"}, "resources/unsubscribe", `{"uri":"file:///readme.md"}`, []string{"unsubscribed\n"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			before := len(b.requests())
			r := run(t, h, "", tc.args...)
			if r.Code != exitOK || r.ErrOut != "" {
				t.Fatalf("%q: exit %d, stderr %q", tc.args, r.Code, r.ErrOut)
			}
			reqs := b.requests()[before:]
			if len(reqs) != 1 || reqs[0].Method != tc.wantMethod || !jsonEqual(t, reqs[0].Params, []byte(tc.wantParams)) {
				t.Fatalf("%q: bridge got %v, want one %s %s", tc.args, reqs, tc.wantMethod, tc.wantParams)
			}
			for _, want := range tc.wantOut {
				if !strings.Contains(r.Out, want) {
					t.Errorf("%q printed %q, want it to contain %q", tc.args, r.Out, want)
				}
			}
		})
	}
	t.Run("resources-list --json keeps the spec's shape", func(t *testing.T) {
		r := run(t, h, "", "resources-list", "@docs", "--json")
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(resourcesListResult)) {
			t.Errorf("resources-list --json: exit %d, stdout %s; want %s", r.Code, r.Out, resourcesListResult)
		}
	})
	t.Run("resources-subscribe --json prints the empty result", func(t *testing.T) {
		r := run(t, h, "", "resources-subscribe", "@docs", "file:///readme.md", "--json")
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(`{}`)) {
			t.Errorf("resources-subscribe --json: exit %d, stdout %q; want {}", r.Code, r.Out)
		}
	})
}

func TestPrompts_ListAndGet(t *testing.T) {
	h, b := newSessionWithBridge(t)
	t.Run("prompts-list shows required and [optional] arguments", func(t *testing.T) {
		r := run(t, h, "", "prompts-list", "@docs")
		if r.Code != exitOK {
			t.Fatalf("prompts-list: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		if f := strings.Fields(r.Out); len(f) < 5 || f[0] != "greet" || f[1] != "who" || f[2] != "[style]" || !strings.Contains(r.Out, "Say hello") {
			t.Errorf("prompts-list printed %q, want greet who [style] Say hello", r.Out)
		}
	})
	t.Run("prompts-get sends every argument as a string", func(t *testing.T) {
		before := len(b.requests())
		r := run(t, h, "", "prompts-get", "@docs", "greet", "who:=Ada", "times:=3", "loud:=true")
		if r.Code != exitOK {
			t.Fatalf("prompts-get: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		reqs := b.requests()[before:]
		want := `{"name":"greet","arguments":{"who":"Ada","times":"3","loud":"true"}}`
		if len(reqs) != 1 || reqs[0].Method != "prompts/get" || !jsonEqual(t, reqs[0].Params, []byte(want)) {
			t.Errorf("prompts-get: bridge got %v, want prompts/get %s", reqs, want)
		}
		if r.Out != "user: Hello, Ada!\n" {
			t.Errorf("prompts-get printed %q, want %q", r.Out, "user: Hello, Ada!\n")
		}
	})
	t.Run("prompts-get takes an inline JSON object too", func(t *testing.T) {
		before := len(b.requests())
		r := run(t, h, "", "prompts-get", "@docs", "greet", `{"who": "Ada", "times": 3}`)
		want := `{"name":"greet","arguments":{"who":"Ada","times":"3"}}`
		reqs := b.requests()[before:]
		if r.Code != exitOK || len(reqs) != 1 || !jsonEqual(t, reqs[0].Params, []byte(want)) {
			t.Errorf("prompts-get inline JSON: exit %d, stderr %q, bridge got %v; want prompts/get %s", r.Code, r.ErrOut, reqs, want)
		}
	})
	t.Run("k=v is a usage error with a := hint", func(t *testing.T) {
		r := run(t, h, "", "prompts-get", "@docs", "greet", "who=Ada")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "did you mean who:=Ada?") {
			t.Errorf("prompts-get who=Ada: exit %d, stderr %q; want %d and a := hint", r.Code, r.ErrOut, exitUsage)
		}
	})
}

func TestPing_PrintsPong(t *testing.T) {
	h, b := newSessionWithBridge(t)
	r := run(t, h, "", "ping", "@docs")
	if r.Code != exitOK || r.Out != "pong\n" || r.ErrOut != "" {
		t.Errorf("ping: exit %d, stdout %q, stderr %q; want 0 and pong", r.Code, r.Out, r.ErrOut)
	}
	if req := b.onlyRequest(t); req.Method != "ping" {
		t.Errorf("bridge got %s, want ping", req.Method)
	}
	r = run(t, h, "", "ping", "@docs", "--json")
	if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(`{}`)) {
		t.Errorf("ping --json: exit %d, stdout %q; want {}", r.Code, r.Out)
	}
}

func TestLoggingSetLevel_AcceptsTheMCPLevelsOnly(t *testing.T) {
	h, b := newSessionWithBridge(t)
	t.Run("a known level is sent", func(t *testing.T) {
		r := run(t, h, "", "logging-set-level", "@docs", "warning")
		if r.Code != exitOK || r.Out != "ok\n" {
			t.Errorf("logging-set-level warning: exit %d, stdout %q, stderr %q; want 0 and ok", r.Code, r.Out, r.ErrOut)
		}
		req := b.onlyRequest(t)
		if req.Method != "logging/setLevel" || !jsonEqual(t, req.Params, []byte(`{"level":"warning"}`)) {
			t.Errorf("bridge got %s %s, want logging/setLevel {\"level\":\"warning\"}", req.Method, req.Params)
		}
	})
	t.Run("an unknown level is a usage error and is not sent", func(t *testing.T) {
		before := len(b.requests())
		r := run(t, h, "", "logging-set-level", "@docs", "verbose")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, `unknown log level "verbose"`) ||
			!strings.Contains(r.ErrOut, "Try: one of: debug, info, notice, warning, error, critical, alert, emergency") {
			t.Errorf("logging-set-level verbose: exit %d, stderr %q; want %d and the levels", r.Code, r.ErrOut, exitUsage)
		}
		if n := len(b.requests()) - before; n != 0 {
			t.Errorf("bridge got %d requests, want none", n)
		}
	})
}

func TestComplete_NeedsAPromptOrAResource(t *testing.T) {
	h, b := newSessionWithBridge(t)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--prompt with a value", []string{"--prompt", "greet", "style", "fr"},
			`{"ref":{"type":"ref/prompt","name":"greet"},"argument":{"name":"style","value":"fr"}}`},
		{"--resource without a value", []string{"--resource", "file:///{path}", "path"},
			`{"ref":{"type":"ref/resource","uri":"file:///{path}"},"argument":{"name":"path","value":""}}`},
		{"--context: the arguments already given", []string{"--prompt", "order", "dish", "t", "--context", "cuisine=japanese", "--context", "note=a=b", "--context", "empty="},
			`{"ref":{"type":"ref/prompt","name":"order"},"argument":{"name":"dish","value":"t"},"context":{"arguments":{"cuisine":"japanese","note":"a=b","empty":""}}}`},
		{"--context with --resource", []string{"--resource", "test://menu/{cuisine}/{dish}", "dish", "--context", "cuisine=mexican"},
			`{"ref":{"type":"ref/resource","uri":"test://menu/{cuisine}/{dish}"},"argument":{"name":"dish","value":""},"context":{"arguments":{"cuisine":"mexican"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(b.requests())
			r := run(t, h, "", append([]string{"complete", "@docs"}, tc.args...)...)
			if r.Code != exitOK || r.Out != "formal\nfriendly\n" {
				t.Errorf("complete %q: exit %d, stdout %q, stderr %q; want the values one a line", tc.args, r.Code, r.Out, r.ErrOut)
			}
			reqs := b.requests()[before:]
			if len(reqs) != 1 || reqs[0].Method != "completion/complete" || !jsonEqual(t, reqs[0].Params, []byte(tc.want)) {
				t.Errorf("complete %q: bridge got %v, want completion/complete %s", tc.args, reqs, tc.want)
			}
		})
	}
	t.Run("--json keeps the CompleteResult shape", func(t *testing.T) {
		r := run(t, h, "", "complete", "@docs", "--prompt", "greet", "style", "--json")
		want := `{"completion":{"values":["formal","friendly"],"hasMore":false}}`
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(want)) {
			t.Errorf("complete --json: exit %d, stdout %s; want %s", r.Code, r.Out, want)
		}
	})
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"neither", []string{"style"}, "complete needs --prompt NAME or --resource URI"},
		{"both", []string{"--prompt", "greet", "--resource", "file:///x", "style"}, "give --prompt or --resource, not both"},
		{"--context without =", []string{"--prompt", "order", "dish", "--context", "cuisine"}, `--context "cuisine" is not NAME=VALUE`},
		{"--context with an empty name", []string{"--prompt", "order", "dish", "--context", "=japanese"}, `--context "=japanese" has an empty name`},
		{"--context twice for one name", []string{"--prompt", "order", "dish", "--context", "cuisine=a", "--context", "cuisine=b"}, "--context cuisine given twice"},
	} {
		t.Run(tc.name+" is a usage error", func(t *testing.T) {
			before := len(b.requests())
			r := run(t, h, "", append([]string{"complete", "@docs"}, tc.args...)...)
			if r.Code != exitUsage || !strings.Contains(r.ErrOut, tc.want) {
				t.Errorf("complete %q: exit %d, stderr %q; want %d and %q", tc.args, r.Code, r.ErrOut, exitUsage, tc.want)
			}
			if n := len(b.requests()) - before; n != 0 {
				t.Errorf("bridge got %d requests, want none", n)
			}
		})
	}
}

// `-` reads the prompt's arguments from stdin, as tools-call does (it used to dereference a
// nil reader and panic).
func TestPromptsGet_DashReadsTheArgumentsFromStdin(t *testing.T) {
	h, b := newSessionWithBridge(t)
	r := run(t, h, `{"who":"Ada"}`, "prompts-get", "@docs", "greet", "-")
	if r.Code != exitOK {
		t.Fatalf("prompts-get @docs greet - : exit %d, stderr %q", r.Code, r.ErrOut)
	}
	want := `{"name":"greet","arguments":{"who":"Ada"}}`
	if req := b.onlyRequest(t); !jsonEqual(t, req.Params, []byte(want)) {
		t.Errorf("prompts-get -: bridge got %s, want %s", req.Params, want)
	}
}

// tools-call hands the progress notifications of its own call to the progress bar, on
// stderr and only on a terminal; stdout has the result alone.
func TestToolsCall_ShowsItsProgressOnATerminalOnly(t *testing.T) {
	h, b := newSessionWithBridge(t)
	runOn := func(errTerminal bool) (code int, out, errOut string) {
		io, o, e := cmdkit.Test("")
		io.ErrTerminal = errTerminal
		code = cmdkit.Run(context.Background(), []string{"tools-call", "@docs", "progress"}, io, cmdkit.Program{
			Factory: h.Factory,
			Root: func(f *cmdkit.Factory) *cobra.Command {
				root := &cobra.Command{Use: "mcpctl", SilenceUsage: true, SilenceErrors: true}
				cmdkit.AddGlobalFlags(root.PersistentFlags(), f)
				root.AddCommand(cmdNamed(t, "tools-call")(f))
				return root
			},
		})
		return code, o.String(), e.String()
	}
	t.Run("on a terminal: a bar with each step's message, and nothing of other tokens", func(t *testing.T) {
		code, out, errOut := runOn(true)
		if code != exitOK || out != "indexed\n" {
			t.Fatalf("tools-call progress: exit %d, stdout %q, stderr %q", code, out, errOut)
		}
		for _, want := range []string{"indexing a 1/3", "indexing b 2/3", "indexing c 3/3"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("stderr does not show %q:\n%q", want, errOut)
			}
		}
		if strings.Contains(errOut, "not yours") {
			t.Errorf("stderr shows another call's progress:\n%q", errOut)
		}
		req := b.requests()[len(b.requests())-1]
		var p struct {
			Meta struct {
				Token string `json:"progressToken"`
			} `json:"_meta"`
		}
		if json.Unmarshal(req.Params, &p) != nil || p.Meta.Token == "" {
			t.Errorf("tools/call params %s carry no progressToken", req.Params)
		}
	})
	t.Run("stderr not a terminal: no progress at all", func(t *testing.T) {
		code, out, errOut := runOn(false)
		if code != exitOK || out != "indexed\n" || errOut != "" {
			t.Errorf("tools-call progress: exit %d, stdout %q, stderr %q; want the result and an empty stderr", code, out, errOut)
		}
	})
}
