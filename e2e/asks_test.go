package e2e

// Server asks against the MCP reference server (server-everything, pinned in
// e2e/package.json) over stdio: the bridge declares client capabilities from the session's
// policy (connect --elicit, --root, --sampling-command), answers the server's
// elicitation/create, roots/list and sampling/createMessage by it, and records each ask as
// a server_asked event without the values.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// askFields are the only keys a server_asked event may have: nothing of what was asked
// or answered.
var askFields = []string{"v", "type", "node", "session", "generation", "time", "actor", "seq", "pid",
	"method", "action", "duration_ms", "error", "reason"}

// askWant is what one server_asked event must say.
type askWant struct {
	method, action string
	why            string // a part of the event's error; "" means it has none
}

// asksOf returns the server_asked events of a session, decoded and as printed.
func asksOf(e *env, session string) ([]events.Event, []string) {
	e.t.Helper()
	r := e.ok("events", "--json", "--session", session, "--type", "server_asked")
	var evs []events.Event
	var raw []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if line == "" {
			continue
		}
		var ev events.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			e.t.Fatalf("server_asked line %q: %v", line, err)
		}
		evs, raw = append(evs, ev), append(raw, line)
	}
	return evs, raw
}

// waitAsk waits until the session has n server_asked events (the bridge appends them off
// the answer's path) and checks the n-th against want: the method, the action, the error,
// a duration, and no values (no field but askFields, none of secrets anywhere in it).
func waitAsk(e *env, session string, n int, want askWant, secrets ...string) events.Event {
	e.t.Helper()
	var evs []events.Event
	var raw []string
	testwait.For(e.t, 15*time.Second, func() error {
		evs, raw = asksOf(e, session)
		if len(evs) < n {
			return fmt.Errorf("@%s has %d server_asked events, want %d", session, len(evs), n)
		}
		return nil
	})
	if len(evs) != n {
		e.t.Fatalf("@%s has %d server_asked events, want %d (one an ask):\n%s", session, len(evs), n, strings.Join(raw, "\n"))
	}
	ev, line := evs[n-1], raw[n-1]
	if ev.Type != events.KindServerAsked || ev.Session != session || ev.Method != want.method || ev.Action != want.action {
		e.t.Errorf("server_asked event %s\nwant method %s, action %s", line, want.method, want.action)
	}
	if want.why == "" && ev.Error != "" || !strings.Contains(ev.Error, want.why) {
		e.t.Errorf("server_asked event %s\nwant error %q", line, want.why)
	}
	if ev.DurationMS <= 0 {
		e.t.Errorf("server_asked event %s has no duration_ms", line)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(line), &fields); err != nil {
		e.t.Fatal(err)
	}
	for k := range fields {
		if !slices.Contains(askFields, k) {
			e.t.Errorf("server_asked event has field %q: %s", k, line)
		}
	}
	for _, s := range secrets {
		if strings.Contains(line, s) {
			e.t.Errorf("server_asked event carries the value %q: %s", s, line)
		}
	}
	return ev
}

// noMethodNotFound fails when a result shows the ask was answered "method not found":
// what the bridge did before it declared capabilities.
func noMethodNotFound(t *testing.T, r result) {
	t.Helper()
	if out := strings.ToLower(r.Stdout + r.Stderr); strings.Contains(out, "-32601") || strings.Contains(out, "method not found") {
		t.Errorf("an ask got -32601 (method not found):\n%s", r)
	}
}

// wantOutput fails unless the call's stdout has each part.
func wantOutput(t *testing.T, r result, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(r.Stdout, p) {
			t.Errorf("%s\nwant stdout to contain %q", r, p)
		}
	}
}

// toolNames lists the session's tools (every page).
func toolNames(e *env, session string) []string {
	e.t.Helper()
	var r struct{ Tools []struct{ Name string } }
	e.jsonOK(&r, "@"+session, "tools-list")
	var names []string
	for _, x := range r.Tools {
		names = append(names, x.Name)
	}
	return names
}

// listed checks which of the ask tools the server lists to the session: server-everything
// registers each only for a client that declared its capability.
func listed(t *testing.T, e *env, session string, want map[string]bool) {
	t.Helper()
	names := toolNames(e, session)
	for tool, shown := range want {
		if slices.Contains(names, tool) != shown {
			t.Errorf("@%s tools-list has %s: %v, want %v (tools: %v)", session, tool, !shown, shown, names)
		}
	}
}

// TestAsks_ServerEverythingAnswersEachAskByTheSessionsPolicy connects server-everything over
// stdio with each policy and calls its elicitation, URL elicitation, sampling and roots
// tools: each answer reaches the tool (its output shows it), each ask is one server_asked
// event, and with no policy each ask is a clean decline (never -32601).
func TestAsks_ServerEverythingAnswersEachAskByTheSessionsPolicy(t *testing.T) {
	node, entry := everything(t)
	e := isolated(t)
	connect := func(t *testing.T, name string, policy ...string) *env {
		t.Helper()
		e := e.on(t)
		args := append([]string{"connect", "@" + name}, policy...)
		r := e.ok(append(args, "--", node, entry, "stdio")...)
		if !strings.Contains(r.Stdout, "mcp-servers/everything") {
			t.Fatalf("connect does not name the server:\n%s", r)
		}
		t.Cleanup(func() { e.run("close", "@"+name) })
		return e
	}
	const urlAsked = "https://example.org/e2e/authorize"

	t.Run("elicitation accepted with --elicit JSON", func(t *testing.T) {
		const s = "elicit-json"
		e := connect(t, s, "--elicit",
			`{"name": "Ada Lovelace", "check": true, "email": "ada@example.org", "integer": 7, "untitledSingleSelectEnum": "Joey"}`)
		listed(t, e, s, map[string]bool{"trigger-elicitation-request": true, "trigger-url-elicitation": true,
			"trigger-sampling-request": false, "get-roots-list": false})

		r := e.ok("@"+s, "tools-call", "trigger-elicitation-request")
		noMethodNotFound(t, r)
		wantOutput(t, r, "User provided the requested information", "- Name: Ada Lovelace", "- Agreed to terms: true",
			"- Email: ada@example.org", "- Favorite Integer: 7", `"action": "accept"`, `"untitledSingleSelectEnum": "Joey"`)
		waitAsk(e, s, 1, askWant{"elicitation/create", "accept", ""}, "Ada", "ada@example.org", "Joey")

		// The human line says the same, without the values.
		h := e.ok("events", "--session", s, "--type", "server_asked")
		for _, w := range []string{"server_asked", "method=elicitation/create", "action=accept", "took="} {
			if !strings.Contains(h.Stdout, w) {
				t.Errorf("events --type server_asked:\n%s\nwant it to show %s", h.Stdout, w)
			}
		}
		if strings.Contains(h.Stdout, "Ada") {
			t.Errorf("events --type server_asked shows an elicited value:\n%s", h.Stdout)
		}

		// A URL elicitation cannot be accepted by a policy: nobody visits the URL.
		r = e.ok("@"+s, "tools-call", "trigger-url-elicitation", "url:="+urlAsked, "elicitationId:=e2e-url-1")
		noMethodNotFound(t, r)
		wantOutput(t, r, "User declined to open the URL (Elicitation ID: e2e-url-1)", `"action": "decline"`)
		waitAsk(e, s, 2, askWant{"elicitation/create", "decline", "nobody to visit the URL"}, urlAsked, "e2e-url-1")

		// @s history counts them in the generation that was asked.
		h = e.ok("@"+s, "history")
		for _, w := range []string{"server asked  elicitation/create accept, 1 time(s)",
			"server asked  elicitation/create decline, 1 time(s)"} {
			if !strings.Contains(h.Stdout, w) {
				t.Errorf("@%s history:\n%s\nwant it to say %s", s, h.Stdout, w)
			}
		}
	})

	t.Run("elicitation with --elicit defaults", func(t *testing.T) {
		// The schema requires "name" and gives it no default: defaults cannot make a
		// valid answer, so the bridge declines, saying why, rather than accept an invalid one.
		const s = "elicit-defaults"
		e := connect(t, s, "--elicit", "defaults")
		listed(t, e, s, map[string]bool{"trigger-elicitation-request": true, "trigger-url-elicitation": true})
		r := e.ok("@"+s, "tools-call", "trigger-elicitation-request")
		noMethodNotFound(t, r)
		wantOutput(t, r, "User declined to provide the requested information", `"action": "decline"`)
		if strings.Contains(r.Stdout, "stormy night") {
			t.Errorf("a declined elicitation returned content:\n%s", r)
		}
		waitAsk(e, s, 1, askWant{"elicitation/create", "decline", `required field "name" has no default`})
	})

	t.Run("elicitation with --elicit cancel", func(t *testing.T) {
		const s = "elicit-cancel"
		e := connect(t, s, "--elicit", "cancel")
		r := e.ok("@"+s, "tools-call", "trigger-elicitation-request")
		noMethodNotFound(t, r)
		wantOutput(t, r, "User cancelled the elicitation dialog", `"action": "cancel"`)
		waitAsk(e, s, 1, askWant{"elicitation/create", "cancel", ""})
		r = e.ok("@"+s, "tools-call", "trigger-url-elicitation", "url:="+urlAsked, "elicitationId:=e2e-url-2")
		wantOutput(t, r, "User cancelled the URL elicitation (Elicitation ID: e2e-url-2)")
		waitAsk(e, s, 2, askWant{"elicitation/create", "cancel", ""}, urlAsked)
	})

	t.Run("URL elicitation refused and on the error path", func(t *testing.T) {
		const s = "elicit-url"
		e := connect(t, s)
		// A URL that is not https is refused with -32602, which the server's tool reports.
		r := e.run("@"+s, "tools-call", "trigger-url-elicitation", "url:=http://example.org/plain", "elicitationId:=e2e-url-3")
		if r.Code != 2 || !strings.Contains(r.Stdout+r.Stderr, "-32602") || !strings.Contains(r.Stdout+r.Stderr, "only https") {
			t.Errorf("an http URL elicitation: want exit 2 and -32602 saying only https\n%s", r)
		}
		noMethodNotFound(t, r)
		waitAsk(e, s, 1, askWant{"elicitation/create", "error", "only https"}, "example.org/plain")
		// errorPath: the server asks through a -32042 error instead of a request; off a
		// terminal the call fails with it (exit 2), saying which URL to open, and no ask is
		// made.
		r = e.run("@"+s, "tools-call", "trigger-url-elicitation", "url:="+urlAsked, "errorPath:=true")
		if r.Code != 2 || !strings.Contains(r.Stderr, "-32042") || !strings.Contains(r.Stderr, "open https://modelcontextprotocol.io in a browser, then run the command again") {
			t.Errorf("trigger-url-elicitation errorPath: want exit 2 with the server's -32042 and the URL to open\n%s", r)
		}
		if evs, raw := asksOf(e, s); len(evs) != 1 {
			t.Errorf("the error path made an ask:\n%s", strings.Join(raw, "\n"))
		}
	})

	t.Run("sampling with --sampling-command", func(t *testing.T) {
		const s = "sampling"
		dir := t.TempDir()
		request := filepath.Join(dir, "request.json")
		script := filepath.Join(dir, "sample.sh")
		if err := os.WriteFile(script, []byte(`#!/bin/sh
# An LLM stand-in: keeps the request it got on stdin, prints a CreateMessageResult.
cat > '`+request+`' || exit 1
printf '%s\n' '{"role": "assistant", "model": "e2e-sampler", "stopReason": "endTurn", "content": {"type": "text", "text": "sampled by the e2e script"}}'
`), 0o700); err != nil {
			t.Fatal(err)
		}
		e := connect(t, s, "--sampling-command", "'"+script+"'")
		listed(t, e, s, map[string]bool{"trigger-sampling-request": true, "get-roots-list": false})

		r := e.ok("@"+s, "tools-call", "trigger-sampling-request", "prompt:=hello from e2e", "maxTokens:=5")
		noMethodNotFound(t, r)
		wantOutput(t, r, "LLM sampling result", `"model": "e2e-sampler"`, `"text": "sampled by the e2e script"`)
		b, err := os.ReadFile(request)
		if err != nil {
			t.Fatalf("the sampling command got no request: %v", err)
		}
		var req struct {
			Messages []struct {
				Role    string
				Content struct{ Type, Text string }
			}
			MaxTokens    int
			SystemPrompt string
		}
		if err := json.Unmarshal(b, &req); err != nil || len(req.Messages) != 1 || req.MaxTokens != 5 ||
			req.Messages[0].Content.Text != "Resource trigger-sampling-request context: hello from e2e" {
			t.Errorf("the sampling command's stdin (%v): %s\nwant the server's params: one user message with the prompt, maxTokens 5", err, b)
		}
		waitAsk(e, s, 1, askWant{"sampling/createMessage", "answered", ""}, "hello from e2e", "sampled by", "e2e-sampler")
	})

	t.Run("roots with --root", func(t *testing.T) {
		const s = "roots"
		base := t.TempDir()
		alpha, beta := filepath.Join(base, "alpha"), filepath.Join(base, "beta")
		for _, d := range []string{alpha, beta} {
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		e := connect(t, s, "--root", alpha, "--root", beta)
		listed(t, e, s, map[string]bool{"get-roots-list": true, "trigger-sampling-request": false})
		// The server asks for the roots by itself 350 ms after initialize, and logs that it
		// got them: once it has, the tool answers from what it was given.
		e.waitNotification(s, "the server's log of the roots it received", func(n notification) bool {
			d, _ := n.Params["data"].(string)
			return n.Method == "notifications/message" && strings.Contains(d, "Roots updated: 2 root(s) received from client")
		})
		waitAsk(e, s, 1, askWant{"roots/list", "answered", ""}, alpha, beta)

		r := e.ok("@"+s, "tools-call", "get-roots-list")
		noMethodNotFound(t, r)
		wantOutput(t, r, "Current MCP Roots (2 total)", "1. alpha\n   URI: file://"+alpha, "2. beta\n   URI: file://"+beta)
		if evs, raw := asksOf(e, s); len(evs) != 1 {
			t.Errorf("@%s: %d server_asked events, want the one roots/list:\n%s", s, len(evs), strings.Join(raw, "\n"))
		}
	})

	t.Run("no policy: each ask a clean decline", func(t *testing.T) {
		const s = "no-policy"
		e := connect(t, s)
		// Elicitation is always declared (every elicitation has an answer: decline);
		// roots and sampling only when configured, so the server hides those tools.
		listed(t, e, s, map[string]bool{"trigger-elicitation-request": true, "trigger-url-elicitation": true,
			"trigger-sampling-request": false, "get-roots-list": false})

		r := e.ok("@"+s, "tools-call", "trigger-elicitation-request")
		noMethodNotFound(t, r)
		wantOutput(t, r, "User declined to provide the requested information", `"action": "decline"`)
		waitAsk(e, s, 1, askWant{"elicitation/create", "decline", ""})

		r = e.ok("@"+s, "tools-call", "trigger-url-elicitation", "url:="+urlAsked, "elicitationId:=e2e-url-4")
		noMethodNotFound(t, r)
		wantOutput(t, r, "User declined to open the URL (Elicitation ID: e2e-url-4)")
		waitAsk(e, s, 2, askWant{"elicitation/create", "decline", "nobody to visit the URL"})

		// Undeclared, the server never asks: its tools are not there (its own -32602).
		for _, tool := range []string{"trigger-sampling-request", "get-roots-list"} {
			r := e.run("@"+s, "tools-call", tool, "prompt:=x")
			noMethodNotFound(t, r)
			if r.Code != 2 || !strings.Contains(r.Stderr, "Tool "+tool+" not found") {
				t.Errorf("%s without the capability: want exit 2, the server's tool not found\n%s", tool, r)
			}
		}
		if evs, raw := asksOf(e, s); len(evs) != 2 {
			t.Errorf("@%s: %d server_asked events, want the two elicitations:\n%s", s, len(evs), strings.Join(raw, "\n"))
		}
	})
}

// TestAsks_TheCallerAnswers: with no session policy, the CLI whose call caused an ask
// answers it: by the call's --elicit flag, or by a person on its terminal (a real pty here)
// with a form built from the schema. server-everything over stdio asks during the call.
func TestAsks_TheCallerAnswers(t *testing.T) {
	node, entry := everything(t)
	e := isolated(t)
	const s = "caller"
	e.ok("connect", "@"+s, "--", node, entry, "stdio")
	t.Cleanup(func() { e.run("close", "@"+s) })

	t.Run("the call's --elicit JSON", func(t *testing.T) {
		r := e.ok("@"+s, "tools-call", "trigger-elicitation-request", "--elicit", `{"name": "Grace Hopper", "integer": 9}`)
		noMethodNotFound(t, r)
		wantOutput(t, r, "User provided the requested information", "- Name: Grace Hopper", "- Favorite Integer: 9", `"action": "accept"`)
		ev := waitAsk(e, s, 1, askWant{"elicitation/create", "accept", ""}, "Grace")
		if ev.Reason != "answered by the caller" {
			t.Errorf("server_asked reason %q, want answered by the caller", ev.Reason)
		}
		// The session's policy still answers a call without the flag, off a terminal.
		r = e.ok("@"+s, "tools-call", "trigger-elicitation-request")
		wantOutput(t, r, `"action": "decline"`)
		if ev := waitAsk(e, s, 2, askWant{"elicitation/create", "decline", ""}); ev.Reason != "" {
			t.Errorf("a policy answer says %q", ev.Reason)
		}
		// A URL elicitation by the flag: cancel.
		r = e.ok("@"+s, "tools-call", "trigger-url-elicitation", "url:=https://example.org/e2e/x", "elicitationId:=e2e-caller", "--elicit", "cancel")
		wantOutput(t, r, "User cancelled the URL elicitation (Elicitation ID: e2e-caller)")
		waitAsk(e, s, 3, askWant{"elicitation/create", "cancel", ""})
		// A bad flag is a usage error before anything is sent.
		if r := e.run("@"+s, "tools-call", "trigger-elicitation-request", "--elicit", "perhaps"); r.Code != 1 || !strings.Contains(r.Stderr, "--elicit") {
			t.Errorf("--elicit perhaps: want exit 1 naming the flag\n%s", r)
		}
		if evs, _ := asksOf(e, s); len(evs) != 3 {
			t.Errorf("after a refused flag: %d server_asked events, want 3", len(evs))
		}
	})

	t.Run("the MCP host behind proxy answers the ask its call caused", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := e.cmd(ctx, "@"+s, "proxy")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Wait()
		defer stdin.Close()
		write := func(line string) {
			t.Helper()
			if _, err := io.WriteString(stdin, line+"\n"); err != nil {
				t.Fatal(err)
			}
		}
		write(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","clientInfo":{"name":"host","version":"1"},"capabilities":{"elicitation":{}}}}`)
		write(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"trigger-elicitation-request","arguments":{}}}`)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 4<<20)
		var result string
		for result == "" && sc.Scan() {
			line := sc.Text()
			var m struct {
				ID     json.RawMessage `json:"id"`
				Method string          `json:"method"`
				Result json.RawMessage `json:"result"`
				Error  json.RawMessage `json:"error"`
			}
			if json.Unmarshal([]byte(line), &m) != nil {
				t.Fatalf("proxy printed %q", line)
			}
			switch {
			case m.Method == "elicitation/create":
				// The schema as the server wrote it: name first, legacyTitledEnum last.
				if i, j := strings.Index(line, `"name":{`), strings.Index(line, `"legacyTitledEnum":{`); i < 0 || j < i {
					t.Errorf("the ask's schema lost the server's order: %s", line)
				}
				write(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"action":"accept","content":{"name":"Host User","check":true}}}`)
			case string(m.ID) == "2":
				result = string(m.Result) + string(m.Error)
			}
		}
		if !strings.Contains(result, "Host User") || !strings.Contains(result, `\"action\": \"accept\"`) {
			t.Errorf("the host's answer did not reach the tool: %s", result)
		}
		ev := waitAsk(e, s, 4, askWant{"elicitation/create", "accept", ""}, "Host User")
		if ev.Reason != "answered by the caller" {
			t.Errorf("server_asked reason %q, want answered by the caller", ev.Reason)
		}
	})

	t.Run("a person on the terminal fills the form", func(t *testing.T) {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pty here: %v", err)
		}
		defer ptmx.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := e.cmd(ctx, "@"+s, "tools-call", "trigger-elicitation-request", "--json")
		var out bytes.Buffer
		cmd.Stdin, cmd.Stderr, cmd.Stdout = tty, tty, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		var screen lockedBuffer
		copied := make(chan struct{})
		go func() { _, _ = io.Copy(&screen, ptmx); close(copied) }()
		// The form, in the schema's order: name, check, firstLine (default), email, homepage
		// (optional), birthdate, integer (500 is over 100: asked again), number (default),
		// a single select by number, a multi-select, a titled select by title, a titled
		// multi-select (default), a legacy titled enum by title; then send.
		answers := []string{"y", "Grace Hopper", "y", "", "grace@example.org", "", "1906-12-09", "500", "7", "", "4", "1,2", "Wonder Woman", "", "Dogs", "y"}
		prompts := []string{"Answer?", "String *", "Boolean", "String with default", "String with email format", "String with uri format",
			"String with date format", "Integer", "at most 100", "Number in range", "Untitled Single Select Enum", "Untitled Multiple Select Enum",
			"Titled Single Select Enum", "Titled Multiple Select Enum", "Legacy Titled", "Send these answers?"}
		for i, a := range answers {
			testwait.For(t, 30*time.Second, func() error {
				if !strings.Contains(screen.String(), prompts[i]) {
					return fmt.Errorf("the terminal does not show %q yet:\n%s", prompts[i], screen.String())
				}
				return nil
			})
			if _, err := ptmx.Write([]byte(a + "\r")); err != nil {
				t.Fatal(err)
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("tools-call: %v\nterminal:\n%s\nstdout:\n%s", err, screen.String(), out.String())
		}
		var res struct{ Content []struct{ Text string } }
		if err := json.Unmarshal(out.Bytes(), &res); err != nil {
			t.Fatalf("tools-call --json: %v\n%s", err, out.String())
		}
		var text strings.Builder
		for _, c := range res.Content {
			text.WriteString(c.Text)
		}
		for _, w := range []string{`"action": "accept"`, `"name": "Grace Hopper"`, `"email": "grace@example.org"`, `"birthdate": "1906-12-09"`,
			`"integer": 7`, `"number": 3.14`, `"firstLine": "It was a dark and stormy night."`, `"untitledSingleSelectEnum": "Chandler"`,
			`"Guitar",`, `"Piano"`, `"titledSingleSelectEnum": "hero-3"`, `"fish-1"`, `"legacyTitledEnum": "pet-2"`} {
			if !strings.Contains(text.String(), w) {
				t.Errorf("the tool's result does not show %s:\n%s", w, text.String())
			}
		}
		if strings.Contains(text.String(), "homepage") {
			t.Errorf("the optional homepage left empty was sent:\n%s", text.String())
		}
		waitAsk(e, s, 5, askWant{"elicitation/create", "accept", ""}, "Grace", "grace@example.org")
		_ = ptmx.Close()
		<-copied
	})

	t.Run("on the terminal, URLs are opened with $BROWSER: an ask, and a -32042 before a retry", func(t *testing.T) {
		dir := t.TempDir()
		opened := filepath.Join(dir, "opened")
		browser := filepath.Join(dir, "browser.sh")
		if err := os.WriteFile(browser, []byte("#!/bin/sh\necho \"$1\" >> "+opened+"\n"), 0o700); err != nil {
			t.Fatal(err)
		}
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pty here: %v", err)
		}
		defer ptmx.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		const asked = "https://example.org/e2e/link"
		cmd := e.cmd(ctx, "@"+s, "tools-call", "trigger-url-elicitation", "url:="+asked, "elicitationId:=e2e-tty", "errorPath:=true")
		cmd.Env = append(cmd.Env, "BROWSER="+browser)
		var out bytes.Buffer
		cmd.Stdin, cmd.Stderr, cmd.Stdout = tty, tty, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		var screen lockedBuffer
		copied := make(chan struct{})
		go func() { _, _ = io.Copy(&screen, ptmx); close(copied) }()
		// First the -32042: open the prerequisite, Enter to retry; the retry asks with
		// elicitation/create in URL mode: open it too.
		for _, step := range []struct{ prompt, answer string }{
			{"modelcontextprotocol.io", ""}, {"Open it? [Y/n]", "y"}, {"Press Enter when you are done", ""},
			{"asks you to open a page on example.org", ""}, {"Open it? [Y/n/c]", "y"},
		} {
			testwait.For(t, 30*time.Second, func() error {
				if !strings.Contains(screen.String(), step.prompt) {
					return fmt.Errorf("the terminal does not show %q yet:\n%s", step.prompt, screen.String())
				}
				return nil
			})
			if step.prompt == "modelcontextprotocol.io" || step.prompt == "asks you to open a page on example.org" {
				continue
			}
			if _, err := ptmx.Write([]byte(step.answer + "\r")); err != nil {
				t.Fatal(err)
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("tools-call: %v\nterminal:\n%s\nstdout:\n%s", err, screen.String(), out.String())
		}
		if !strings.Contains(out.String(), "User completed the URL elicitation flow") || !strings.Contains(out.String(), "e2e-tty") {
			t.Errorf("the retried call's result:\n%s\nterminal:\n%s", out.String(), screen.String())
		}
		testwait.For(t, 10*time.Second, func() error {
			b, _ := os.ReadFile(opened)
			if got := strings.Fields(string(b)); !slices.Equal(got, []string{"https://modelcontextprotocol.io", asked}) {
				return fmt.Errorf("$BROWSER opened %q", got)
			}
			return nil
		})
		_ = ptmx.Close()
		<-copied
	})
}

// lockedBuffer is a bytes.Buffer written by one goroutine and read by another.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
