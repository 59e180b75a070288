package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// connectPaged opens a stdio session to the test server with serverArgs and closes it at
// cleanup.
func connectPaged(e *env, name string, serverArgs ...string) {
	e.t.Helper()
	e.ok(append([]string{"connect", "@" + name, "--", serverBin}, serverArgs...)...)
	e.t.Cleanup(func() { e.run("close", "@"+name) })
}

// on is e for subtest t: its failures stop t, not the parent test.
func (e *env) on(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

// seq returns format filled with 1…n.
func seq(format string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf(format, i))
	}
	return out
}

// onceEach fails unless every one of want is in got exactly once and got has no name twice.
func onceEach(t *testing.T, what string, got, want []string) {
	t.Helper()
	count := map[string]int{}
	for _, g := range got {
		count[g]++
	}
	for g, n := range count {
		if n > 1 {
			t.Errorf("%s: %s listed %d times", what, g, n)
		}
	}
	for _, w := range want {
		if count[w] == 0 {
			t.Errorf("%s: %s missing from %q", what, w, got)
		}
	}
}

// The server pages every list 3 items at a time: 20 tools in 7 pages, 8 resources in 3,
// 5 templates in 2, 6 prompts in 2 and an empty third (mcp-go follows a full page with one).
func TestPagination_EveryPageIsListedAndUsable(t *testing.T) {
	e := isolated(t)
	const s = "@paged"
	connectPaged(e, "paged", "--page-size", "3", "--paged-tools", "10", "--paged-resources", "7",
		"--paged-templates", "4", "--paged-prompts", "5")
	ownTools := []string{"add", "big", "count", "crash", "echo", "notify", "roots", "sleep", "stderr", "whoami"}
	pagedTools := seq("page_tool_%02d", 10)

	var tools []string
	t.Run("tools-list --json: every tool of 7 pages in one result, no nextCursor", func(t *testing.T) {
		e := e.on(t)
		var r struct{ Tools []struct{ Name string } }
		res := e.jsonOK(&r, s, "tools-list")
		for _, x := range r.Tools {
			tools = append(tools, x.Name)
		}
		if len(tools) != 20 {
			t.Errorf("tools-list --json has %d tools, want 20: %q", len(tools), tools)
		}
		onceEach(t, "tools-list --json", tools, append(slices.Clone(ownTools), pagedTools...))
		if strings.Contains(res.Stdout, "nextCursor") {
			t.Errorf("tools-list --json has a nextCursor:\n%s", res.Stdout)
		}
	})
	t.Run("tools-list shows every tool", func(t *testing.T) {
		e := e.on(t)
		r := e.ok(s, "tools-list")
		var names []string
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			name, _, _ := strings.Cut(strings.Fields(line)[0], "(") // name(params…)
			names = append(names, name)
		}
		if len(names) != 20 {
			t.Errorf("tools-list printed %d tools, want 20:\n%s", len(names), r.Stdout)
		}
		onceEach(t, "tools-list", names, append(slices.Clone(ownTools), pagedTools...))
	})
	t.Run("tools-get and tools-call reach a tool on every page", func(t *testing.T) {
		e := e.on(t)
		// Pages by name: [add big count] [crash echo notify] [page_tool_01-03] [04-06]
		// [07-09] [page_tool_10 sleep stderr] [whoami].
		for _, tool := range append([]string{"big", "echo", "whoami"}, pagedTools...) {
			r := e.ok(s, "tools-get", tool)
			if first := strings.SplitN(r.Stdout, "\n", 2)[0]; first != tool {
				t.Errorf("tools-get %s printed %q first, want the name", tool, first)
			}
		}
		for _, tool := range pagedTools {
			if r := e.ok(s, "tools-call", tool); r.Stdout != tool+" called\n" {
				t.Errorf("tools-call %s printed %q, want %q", tool, r.Stdout, tool+" called\n")
			}
		}
		if r := e.ok(s, "tools-call", "echo", "text:=page two"); r.Stdout != "page two\n" {
			t.Errorf("tools-call echo printed %q, want the text", r.Stdout)
		}
		if r := e.ok(s, "tools-call", "whoami"); !strings.Contains(r.Stdout, `"transport":"stdio"`) {
			t.Errorf("tools-call whoami (page 7) printed %q, want its JSON", r.Stdout)
		}
	})
	t.Run("resources-list: every resource, each readable", func(t *testing.T) {
		e := e.on(t)
		var r struct{ Resources []struct{ URI string } }
		res := e.jsonOK(&r, s, "resources-list")
		var uris []string
		for _, x := range r.Resources {
			uris = append(uris, x.URI)
		}
		want := append([]string{"test://counter"}, seq("test://paged/%02d", 7)...)
		if len(uris) != len(want) || strings.Contains(res.Stdout, "nextCursor") {
			t.Errorf("resources-list --json = %s, want %d resources and no nextCursor", res.Stdout, len(want))
		}
		onceEach(t, "resources-list", uris, want)
		for i := 1; i <= 7; i++ {
			uri := fmt.Sprintf("test://paged/%02d", i)
			if r := e.ok(s, "resources-read", uri); r.Stdout != fmt.Sprintf("paged resource %02d\n", i) {
				t.Errorf("resources-read %s printed %q", uri, r.Stdout)
			}
		}
		if r := e.ok(s, "resources-read", "test://counter"); strings.TrimSpace(r.Stdout) != "0" {
			t.Errorf("resources-read test://counter printed %q, want 0", r.Stdout)
		}
	})
	t.Run("resources-templates-list: every template, each readable", func(t *testing.T) {
		e := e.on(t)
		var r struct {
			ResourceTemplates []struct{ URITemplate string }
		}
		e.jsonOK(&r, s, "resources-templates-list")
		var got []string
		for _, x := range r.ResourceTemplates {
			got = append(got, x.URITemplate)
		}
		want := append([]string{"test://items/{id}"}, seq("test://paged-template-%02d/{id}", 4)...)
		if len(got) != len(want) {
			t.Errorf("resources-templates-list has %d templates, want %d: %q", len(got), len(want), got)
		}
		onceEach(t, "resources-templates-list", got, want)
		for i := 1; i <= 4; i++ {
			uri := fmt.Sprintf("test://paged-template-%02d/x", i)
			if r := e.ok(s, "resources-read", uri); r.Stdout != fmt.Sprintf("paged template %02d x\n", i) {
				t.Errorf("resources-read %s printed %q", uri, r.Stdout)
			}
		}
	})
	t.Run("prompts-list: every prompt, each gettable", func(t *testing.T) {
		e := e.on(t)
		r := e.ok(s, "prompts-list")
		var names []string
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			names = append(names, strings.Fields(line)[0])
		}
		want := append([]string{"greet"}, seq("paged_prompt_%02d", 5)...)
		if len(names) != len(want) {
			t.Errorf("prompts-list printed %d prompts, want %d:\n%s", len(names), len(want), r.Stdout)
		}
		onceEach(t, "prompts-list", names, want)
		for i := 1; i <= 5; i++ {
			p := fmt.Sprintf("paged_prompt_%02d", i)
			if r := e.ok(s, "prompts-get", p); r.Stdout != fmt.Sprintf("user: paged prompt %02d\n", i) {
				t.Errorf("prompts-get %s printed %q", p, r.Stdout)
			}
		}
		if r := e.ok(s, "prompts-get", "greet", "name:=Ada"); !strings.Contains(r.Stdout, "Please greet Ada") {
			t.Errorf("prompts-get greet printed %q", r.Stdout)
		}
	})
	t.Run("--cursor gets one page and says where the next is", func(t *testing.T) {
		e := e.on(t)
		r := e.ok(s, "tools-list", "--cursor", "")
		if n := strings.Count(r.Stdout, "\n"); n != 3 || !strings.Contains(r.Stderr, "next page: mcpctl @paged tools-list --cursor ") {
			t.Errorf("tools-list --cursor '': %d lines, stderr %q; want 3 and the next page", n, r.Stderr)
		}
	})
}

// A server whose lists never end is stopped with exit 3 and a message naming the method and
// the cursor, and its session's bridge is unharmed: the same process still answers.
func TestPagination_ALoopingServerIsStoppedAndTheBridgeStaysUp(t *testing.T) {
	e := isolated(t)
	for _, tc := range []struct {
		mode, want string
	}{
		{"same", `the server sent a cursor it had sent before: nextCursor "AA==" on page 2, as on page 1; stopped paging`},
		{"endless", `the server still had more pages after 1000 pages`},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			e := e.on(t)
			name := "loop-" + tc.mode
			connectPaged(e, name, "--bad-cursor", tc.mode)
			before := bridgePIDs(e.home, name)
			if len(before) != 1 {
				t.Fatalf("bridges of @%s: %v, want one", name, before)
			}
			cmds := map[string]string{"tools-list": "tools/list", "resources-list": "resources/list",
				"resources-templates-list": "resources/templates/list", "prompts-list": "prompts/list"}
			if tc.mode == "endless" {
				cmds = map[string]string{"prompts-list": "prompts/list"} // 1000 round trips each: one is enough
			}
			for cmd, method := range cmds {
				r := e.run("@"+name, cmd)
				want := "mcpctl: " + method + " on @" + name + ": " + tc.want
				if r.Code != 3 || !strings.HasPrefix(r.Stderr, want) {
					t.Errorf("want exit 3 and %q:\n%s", want, r)
				}
				if r.Stdout != "" {
					t.Errorf("want nothing on stdout:\n%s", r)
				}
			}
			if tc.mode == "same" {
				r := e.run("@"+name, "tools-get", "echo")
				if r.Code != 3 || !strings.Contains(r.Stderr, `tools/list on @`+name+`: the server sent a cursor it had sent before`) {
					t.Errorf("tools-get on a looping server: want exit 3 and the cursor error:\n%s", r)
				}
			}
			if r := e.ok("@"+name, "ping"); r.Stdout != "pong\n" {
				t.Errorf("ping after the loop printed %q, want pong", r.Stdout)
			}
			if r := e.ok("@"+name, "tools-call", "echo", "text:=still here"); r.Stdout != "still here\n" {
				t.Errorf("tools-call echo after the loop printed %q", r.Stdout)
			}
			if after := bridgePIDs(e.home, name); !slices.Equal(before, after) {
				t.Errorf("bridges of @%s went from %v to %v, want the same one", name, before, after)
			}
		})
	}
}
