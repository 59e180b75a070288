package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// cmdCase is one command of the tour: its human output must contain want, and its --json
// output must decode and satisfy check.
type cmdCase struct {
	args  []string
	stdin string
	want  string
	check func(doc map[string]any) error
	// volatile: the output may differ between two runs (no --verbose comparison).
	volatile bool
}

func hasKey(k string) func(map[string]any) error {
	return func(doc map[string]any) error {
		if _, ok := doc[k]; !ok {
			return fmt.Errorf("no %q in %v", k, doc)
		}
		return nil
	}
}

func isEmptyObject(doc map[string]any) error {
	if len(doc) != 0 {
		return fmt.Errorf("want {}, got %v", doc)
	}
	return nil
}

// TestCommands_EveryCommandOverStdioAndHTTP runs every session command against the test
// server over stdio and over Streamable HTTP, with and without --json, and checks that
// --verbose never changes stdout; then the lifecycle commands, with their events.
func TestCommands_EveryCommandOverStdioAndHTTP(t *testing.T) {
	t.Parallel()
	for _, transportName := range []string{"stdio", "http"} {
		t.Run(transportName, func(t *testing.T) {
			t.Parallel()
			// A home of its own: the lifecycle part runs `clean`, which on the shared home
			// would also forget the sessions other tests crash on purpose (seen as
			// "not found" in their next command).
			e := isolated(t)
			name := uniqueName(t)
			if transportName == "stdio" {
				e.connectTest(name)
			} else {
				url, _ := startHTTPServer(t)
				r := e.ok("connect", url, "@"+name)
				if !strings.Contains(r.Stdout, "@"+name+" created") {
					t.Fatalf("connect output:\n%s", r)
				}
				t.Cleanup(func() { e.run("close", "@"+name) })
			}
			s := "@" + name
			cases := []cmdCase{
				{args: []string{s}, want: "tools:     add, big, count, crash, echo, notify, roots, sleep, stderr, whoami", check: hasKey("initialize"), volatile: true},
				{args: []string{s, "tools-list"}, want: "echo", check: hasKey("tools")},
				{args: []string{s, "tools-get", "add"}, want: "input schema:", check: func(doc map[string]any) error {
					if doc["name"] != "add" {
						return fmt.Errorf("tools-get add: name %v", doc["name"])
					}
					return hasKey("inputSchema")(doc)
				}},
				{args: []string{s, "tools-call", "add", "a:=40", "b:=2"}, want: "42", check: func(doc map[string]any) error {
					if sc, _ := doc["structuredContent"].(map[string]any); sc["sum"] != 42.0 {
						return fmt.Errorf("structuredContent %v, want sum 42", doc["structuredContent"])
					}
					return nil
				}},
				{args: []string{s, "tools-call", "add", `{"a": 1, "b": 2}`}, want: "3", check: hasKey("content")},
				{args: []string{s, "tools-call", "add"}, stdin: `{"a": 5, "b": 6}`, want: "11", check: hasKey("content")},
				{args: []string{s, "tools-call", "echo", "text:=hello world"}, want: "hello world", check: hasKey("content")},
				{args: []string{s, "resources-list"}, want: "test://counter", check: hasKey("resources")},
				{args: []string{s, "resources-read", "test://items/42"}, want: "item 42", check: hasKey("contents")},
				{args: []string{s, "resources-templates-list"}, want: "test://items/{id}", check: hasKey("resourceTemplates")},
				{args: []string{s, "resources-subscribe", "test://counter"}, want: "subscribed", check: isEmptyObject},
				{args: []string{s, "resources-unsubscribe", "test://counter"}, want: "unsubscribed", check: isEmptyObject},
				{args: []string{s, "prompts-list"}, want: "greet", check: hasKey("prompts")},
				{args: []string{s, "prompts-get", "greet", "name:=Ada", "style:=formal"}, want: "Please greet Ada in a formal way.", check: hasKey("messages")},
				{args: []string{s, "ping"}, want: "pong", check: isEmptyObject},
				{args: []string{s, "logging-set-level", "warning"}, want: "ok", check: isEmptyObject},
				{args: []string{s, "complete", "--prompt", "greet", "style", "f"}, want: "formal\nfriendly\nfunny", check: func(doc map[string]any) error {
					c, _ := doc["completion"].(map[string]any)
					if v, _ := c["values"].([]any); len(v) != 3 {
						return fmt.Errorf("completion values %v, want 3", c["values"])
					}
					return nil
				}},
			}
			for _, c := range cases {
				r := e.runIn(stdinOf(c.stdin), c.args...)
				if r.Code != 0 || !strings.Contains(r.Stdout, c.want) {
					t.Fatalf("want exit 0 and %q on stdout:\n%s", c.want, r)
				}
				if r.Stderr != "" {
					t.Errorf("quiet command wrote on stderr:\n%s", r)
				}
				rj := e.runIn(stdinOf(c.stdin), append([]string{"--json"}, c.args...)...)
				var doc map[string]any
				if rj.Code != 0 {
					t.Fatalf("--json: want exit 0:\n%s", rj)
				}
				if err := json.Unmarshal([]byte(rj.Stdout), &doc); err != nil {
					t.Fatalf("--json output is not one JSON object: %v\n%s", err, rj)
				}
				if err := c.check(doc); err != nil {
					t.Fatalf("--json %v: %v", c.args, err)
				}
				if c.volatile {
					continue
				}
				rv := e.runIn(stdinOf(c.stdin), append([]string{"--verbose"}, c.args...)...)
				if rv.Code != 0 || rv.Stdout != r.Stdout {
					t.Fatalf("--verbose changed stdout:\nwithout: %q\nwith:    %q\n%s", r.Stdout, rv.Stdout, rv)
				}
				rjv := e.runIn(stdinOf(c.stdin), append([]string{"--json", "--verbose"}, c.args...)...)
				if rjv.Code != 0 || rjv.Stdout != rj.Stdout {
					t.Fatalf("--verbose changed --json stdout:\nwithout: %q\nwith:    %q", rj.Stdout, rjv.Stdout)
				}
			}

			// Lifecycle commands.
			before, _ := e.session(name)
			r := e.ok(s, "restart")
			if want := fmt.Sprintf("@%s restarted to generation %d", name, before.Generation+1); !strings.Contains(r.Stdout, want) {
				t.Fatalf("restart: want %q\n%s", want, r)
			}
			var rr struct {
				Started    bool   `json:"started"`
				Generation uint64 `json:"generation"`
				Status     string `json:"status"`
			}
			e.jsonOK(&rr, "restart", s)
			if !rr.Started || rr.Generation != before.Generation+2 || rr.Status != "ready" {
				t.Fatalf("restart --json: %+v, want started generation %d ready", rr, before.Generation+2)
			}
			if r := e.ok(s, "wait", "--for", "ready"); !strings.Contains(r.Stdout, fmt.Sprintf("@%s: ready (generation %d)", name, rr.Generation)) {
				t.Fatalf("wait --for ready:\n%s", r)
			}
			var w struct {
				State projector.Session `json:"state"`
			}
			e.jsonOK(&w, s, "wait", "--for", "ready")
			if w.State.Status != projector.StatusReady || w.State.Generation != rr.Generation {
				t.Fatalf("wait --json state %s generation %d", w.State.Status, w.State.Generation)
			}
			if r := e.ok(s, "logs"); !strings.Contains(r.Stdout, "ready") {
				t.Fatalf("logs has no line about the bridge being ready:\n%s", r)
			}
			h := e.ok(s, "history")
			for g := uint64(1); g <= rr.Generation; g++ {
				if !strings.Contains(h.Stdout, fmt.Sprintf("generation %d ", g)) {
					t.Fatalf("history lacks generation %d:\n%s", g, h)
				}
			}
			if n := strings.Count(h.Stdout, "explicit: mcpctl restart"); n != 2 {
				t.Fatalf("history names %d explicit restarts, want 2:\n%s", n, h)
			}
			var hj struct {
				Session string `json:"session"`
			}
			if e.jsonOK(&hj, s, "history"); hj.Session != name {
				t.Fatalf("history --json: session %q", hj.Session)
			}
			// history says how long the bridge has been running: mask durations.
			if hv := e.ok("--verbose", s, "history"); maskDurations(hv.Stdout) != maskDurations(h.Stdout) {
				t.Fatalf("--verbose changed history:\n%q\n%q", h.Stdout, hv.Stdout)
			}
			if r := e.ok("sessions"); !strings.Contains(r.Stdout, "@"+name) || !lineHas(r.Stdout, "@"+name, "ready") {
				t.Fatalf("sessions does not list @%s as ready:\n%s", name, r)
			}
			if cur, ok := e.session(name); !ok || cur.Status != projector.StatusReady || cur.Generation != rr.Generation {
				t.Fatalf("sessions --json: %+v", cur)
			}
			bridge := bridgePIDs(e.home, name)
			if r := e.ok("close", s); strings.TrimSpace(r.Stdout) != "@"+name+" closed" {
				t.Fatalf("close:\n%s", r)
			}
			var cl struct {
				Closed        bool `json:"closed"`
				AlreadyClosed bool `json:"already_closed"`
			}
			e.jsonOK(&cl, "close", s)
			if !cl.Closed || !cl.AlreadyClosed {
				t.Fatalf("second close --json: %+v, want closed and already_closed", cl)
			}
			testwait.For(t, 5*time.Second, func() error {
				if pids := bridgePIDs(e.home, name); len(pids) != 0 {
					return fmt.Errorf("bridges %v (were %v) still running after close", pids, bridge)
				}
				if socks := sockets(e.home, name); len(socks) != 0 {
					return fmt.Errorf("sockets left after close: %v", socks)
				}
				return nil
			})
			if r := e.run(s, "ping"); r.Code != 1 || !strings.Contains(r.Stderr, "closed") {
				t.Fatalf("ping on a closed session: want exit 1 saying closed\n%s", r)
			}
			e.ok("clean")
			if _, listed := e.session(name); listed {
				t.Fatalf("@%s still listed after clean", name)
			}
			if r := e.run(s, "ping"); r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
				t.Fatalf("ping on a cleaned session: want exit 1 not found\n%s", r)
			}
			evs := e.sessionEvents(name)
			assertOrder(t, evs,
				step{events.KindCreated, 1}, step{events.KindBridgeReady, 1},
				step{events.KindRestartRequested, 2}, step{events.KindBridgeReady, 2},
				step{events.KindRestartRequested, 3}, step{events.KindBridgeReady, 3},
				step{events.KindClosed, 3}, step{events.KindBridgeExited, 3})
			assertOrder(t, evs, step{events.KindClosed, 3}, step{events.KindCleaned, 3})
			if n := countKind(evs, events.KindClosed); n != 1 {
				t.Fatalf("%d closed events, want 1 (the second close changes nothing): %v", n, kindsOf(evs))
			}
		})
	}
}

var durationRE = regexp.MustCompile(`\b[0-9][0-9.]*(ns|µs|ms|s|m|h)\b`)

func maskDurations(s string) string { return durationRE.ReplaceAllString(s, "D") }

func stdinOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// tryHas reports whether the "Try:" line of an error contains hint.
func tryHas(stderr, hint string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(line, "Try: ") && strings.Contains(line, hint) {
			return true
		}
	}
	return false
}

// lineHas reports whether one line of out contains all the words.
func lineHas(out string, words ...string) bool {
	for _, line := range strings.Split(out, "\n") {
		ok := true
		for _, w := range words {
			ok = ok && strings.Contains(line, w)
		}
		if ok {
			return true
		}
	}
	return false
}

// TestProxy_MCPGoClientUsesTheSession: an MCP host (mcp-go's stdio client) runs
// `mcpctl @s proxy` as its server: it initializes, lists and calls tools on the session's
// bridge, and the session is not restarted by it.
func TestProxy_MCPGoClientUsesTheSession(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	calls := e.connectTest(name)
	before, _ := e.session(name)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	env := append(os.Environ(), "MCPCTL_HOME="+e.home, "MCPCTL_NODE="+e.node)
	c := client.NewClient(transport.NewStdio(mcpctlBin, env, "@"+name, "proxy"))
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = "2025-11-25"
	init.Params.ClientInfo = mcp.Implementation{Name: "e2e-host", Version: "1"}
	res, err := c.Initialize(ctx, init)
	if err != nil {
		t.Fatalf("initialize through the proxy: %v", err)
	}
	if res.ServerInfo.Name != "mcptestserver" {
		t.Fatalf("server info through the proxy: %+v", res.ServerInfo)
	}
	tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if !slices.Contains(names, "add") || !slices.Contains(names, "echo") {
		t.Fatalf("tools through the proxy: %v", names)
	}
	for i := range 3 {
		req := mcp.CallToolRequest{}
		req.Params.Name = "add"
		req.Params.Arguments = map[string]any{"a": i, "b": 100}
		out, err := c.CallTool(ctx, req)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(out.Content) != 1 || out.IsError {
			t.Fatalf("call %d: %+v", i, out)
		}
		if tc, ok := out.Content[0].(mcp.TextContent); !ok || tc.Text != fmt.Sprint(100+i) {
			t.Fatalf("call %d: content %+v, want %d", i, out.Content[0], 100+i)
		}
	}
	if n := countCalls(t, calls, "add"); n != 3 {
		t.Fatalf("the server ran add %d times, want 3", n)
	}
	// The CLI shares the session at the same time.
	if r := e.ok("@"+name, "tools-call", "echo", "text:=shared"); strings.TrimSpace(r.Stdout) != "shared" {
		t.Fatalf("CLI call while proxied:\n%s", r)
	}
	after, _ := e.session(name)
	if after.Generation != before.Generation || after.Bridge.PID != before.Bridge.PID {
		t.Fatalf("the proxy changed the session: generation %d pid %d, was %d %d", after.Generation, after.Bridge.PID, before.Generation, before.Bridge.PID)
	}
}

// TestConnect_BadInputFailsCleanly: each kind of bad connect (or call) input gets its own
// error and exit code, leaves no process behind, and leaves the session list as it was. A
// connect whose first generation never became ready is closed and cleaned by connect
// itself: the log keeps the attempt, the listing does not.
func TestConnect_BadInputFailsCleanly(t *testing.T) {
	t.Parallel()
	e := shared(t)
	good := uniqueName(t)
	e.connectTest(good)
	cfgDir := t.TempDir()
	cfg := filepath.Join(cfgDir, "mcp.json")
	if err := os.WriteFile(cfg, []byte(`{"mcpServers": {"one": {"command": "`+serverBin+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := uniqueName(t) + "-bad"
	long := strings.Repeat("x", 65)
	cases := []struct {
		name    string
		args    []string
		code    int
		msg     string
		hint    string
		attempt bool // the log records a failed attempt for session bad
	}{
		{"path in name", []string{"connect", "@../x", "--", serverBin}, 1, `invalid session name "../x"`, "names match", false},
		{"dot in name", []string{"connect", "@a.b", "--", serverBin}, 1, `invalid session name "a.b"`, "names match", false},
		{"65-char name", []string{"connect", "@" + long, "--", serverBin}, 1, "65 characters long, the limit is 64", "names match", false},
		{"unknown command", []string{"conect", "@" + bad, "--", serverBin}, 1, `unknown command "conect"`, "did you mean connect?", false},
		{"unknown session command", []string{"@" + good, "tools-cal", "add"}, 1, `unknown command "tools-cal"`, "did you mean tools-call?", false},
		{"malformed k:=v", []string{"@" + good, "tools-call", "add", "a=1"}, 1, `malformed argument "a=1"`, "did you mean a:=1?", false},
		{"empty key", []string{"@" + good, "tools-call", "add", ":=1"}, 1, "empty key", "", false},
		{"invalid inline JSON", []string{"@" + good, "tools-call", "add", `{"a": 1,`}, 1, "inline JSON", `{"query": "nats"}`, false},
		{"missing config file", []string{"connect", filepath.Join(cfgDir, "nope.json") + ":one", "@" + bad}, 1, "does not exist", "", false},
		{"config without the entry", []string{"connect", cfg + ":two", "@" + bad}, 1, `has no server "two"`, "one of: one", false},
		{"unknown URL scheme", []string{"connect", "ftp://127.0.0.1/mcp", "@" + bad}, 1, `unsupported URL scheme "ftp"`, "http://", false},
		{"unreachable server", []string{"connect", "http://127.0.0.1:1/mcp", "@" + bad}, 3, "connection refused", "mcpctl @" + bad + " logs", true},
		{"not an MCP server", []string{"connect", "@" + bad, "--", serverBin, "--garbage"}, 3, "the server did not start", "mcpctl @" + bad + " logs", true},
	}
	listed := func() []string {
		var list []projector.Session
		e.jsonOK(&list, "sessions")
		var out []string
		for _, s := range list {
			if s.Name == good || strings.HasPrefix(s.Name, bad) {
				out = append(out, s.Name+"="+string(s.Status))
			}
		}
		return out
	}
	want := listed()
	goodBefore, _ := e.session(good)
	for _, c := range cases {
		before := len(e.sessionEvents(bad))
		r := e.run(c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.msg) || (c.hint != "" && !tryHas(r.Stderr, c.hint)) || r.Stdout != "" {
			t.Errorf("%s: want exit %d, %q and hint %q on stderr, nothing on stdout\n%s", c.name, c.code, c.msg, c.hint, r)
		}
		rj := e.run(append([]string{"--json"}, c.args...)...)
		var doc struct {
			Error string
			Code  int
		}
		if rj.Code != c.code || json.Unmarshal([]byte(rj.Stderr), &doc) != nil || doc.Code != c.code || !strings.Contains(doc.Error, c.msg) {
			t.Errorf("%s --json: want exit %d and a JSON error on stderr\n%s", c.name, c.code, rj)
		}
		// The listing is the KV, which the hub folds from the log a moment after connect's
		// own close and clean were appended: poll it.
		testwait.For(t, 5*time.Second, func() error {
			if got := listed(); !slices.Equal(got, want) {
				return fmt.Errorf("%s: sessions %v, want unchanged %v", c.name, got, want)
			}
			return nil
		})
		evs := e.sessionEvents(bad)
		switch {
		case c.attempt && len(evs) > before:
			// Created, then closed and cleaned by connect itself.
			tail := evs[before:]
			assertOrder(t, tail, step{events.KindCreated, tail[0].Generation}, step{events.KindClosed, tail[0].Generation},
				step{events.KindCleaned, tail[0].Generation})
		case c.attempt:
			t.Errorf("%s: no attempt recorded in the log", c.name)
		case len(evs) != before:
			t.Errorf("%s: appended events %v", c.name, kindsOf(evs[before:]))
		}
		testwait.For(t, 5*time.Second, func() error {
			if pids := bridgePIDs(e.home, bad); len(pids) != 0 {
				return fmt.Errorf("%s: bridges left running: %v", c.name, pids)
			}
			if socks := sockets(e.home, bad); len(socks) != 0 {
				return fmt.Errorf("%s: sockets left: %v", c.name, socks)
			}
			return nil
		})
	}
	if left := leftoverProcesses(cfgDir); len(left) != 0 {
		t.Fatalf("processes left: %v", left)
	}
	goodAfter, _ := e.session(good)
	if goodAfter.Generation != goodBefore.Generation || goodAfter.Status != projector.StatusReady {
		t.Fatalf("bad input disturbed @%s: %+v", good, goodAfter)
	}
	// A bad name never reaches a path either.
	if _, err := os.Stat(filepath.Join(e.home, "x.log")); err == nil {
		t.Fatal("a file named after @../x exists")
	}
}
