package e2e

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

type grepResult struct {
	Matches []struct {
		Session, Kind, Name, Title, Description, URI string
		Matched                                      []string
	}
	Searched []string
	Skipped  []struct{ Session, Status, Reason string }
}

// grepJSON runs grep --json and decodes what it printed, whatever its exit code.
func grepJSON(e *env, args ...string) (grepResult, result) {
	e.t.Helper()
	r := e.run(append([]string{"--json"}, args...)...)
	var g grepResult
	if err := json.Unmarshal([]byte(r.Stdout), &g); err != nil {
		e.t.Fatalf("%v: stdout is not grep's JSON: %v\n%s\nstderr:\n%s", args, err, r.Stdout, r.Stderr)
	}
	return g, r
}

func (g grepResult) found() []string {
	var out []string
	for _, m := range g.Matches {
		out = append(out, m.Session+"/"+m.Kind+"/"+m.Name)
	}
	return out
}

func TestGrep_FindsItemsOnLaterPagesInEverySession(t *testing.T) {
	e := isolated(t)

	t.Run("no sessions: an error that says so, exit 1", func(t *testing.T) {
		r := e.on(t).run("grep", "page")
		if r.Code != 1 || !strings.Contains(r.Stderr, "no sessions") || r.Stdout != "" {
			t.Errorf("grep with no sessions: exit %d, stdout %q, stderr %q; want exit 1 and a message", r.Code, r.Stdout, r.Stderr)
		}
	})

	// 3 a page: tools by name are [add big count] [crash echo notify] [page_tool_01-03] …;
	// the other session pages 2 at a time: page_tool_02 is on its page 6.
	connectPaged(e, "paged", "--page-size", "3", "--paged-tools", "10", "--paged-resources", "7",
		"--paged-templates", "4", "--paged-prompts", "5")
	connectPaged(e, "other", "--page-size", "2", "--paged-tools", "2")

	t.Run("--json: a tool on page 3, in both sessions at once", func(t *testing.T) {
		e := e.on(t)
		g, r := grepJSON(e, "grep", "^page_tool_02$")
		if r.Code != 0 {
			t.Fatalf("grep: exit %d\n%s", r.Code, r.Stderr)
		}
		if want := []string{"other/tool/page_tool_02", "paged/tool/page_tool_02"}; !slices.Equal(g.found(), want) {
			t.Errorf("grep found %q, want %q", g.found(), want)
		}
		for _, m := range g.Matches {
			if !slices.Equal(m.Matched, []string{"name"}) || m.Description != "Paged tool 2 of "+map[string]string{"paged": "10", "other": "2"}[m.Session]+"." {
				t.Errorf("match %+v: want matched [name] and the tool's description", m)
			}
		}
		if !slices.Equal(g.Searched, []string{"other", "paged"}) || len(g.Skipped) != 0 {
			t.Errorf("searched %q, skipped %+v; want both searched, none skipped", g.Searched, g.Skipped)
		}
	})

	t.Run("resources, templates and prompts of the last pages; the other session has none and is no error", func(t *testing.T) {
		e := e.on(t)
		g, r := grepJSON(e, "grep", "paged[-_](resource|template|prompt)[-_]0[457]")
		if r.Code != 0 {
			t.Fatalf("grep: exit %d\n%s", r.Code, r.Stderr)
		}
		want := []string{"paged/resource/paged-resource-04", "paged/resource/paged-resource-05", "paged/resource/paged-resource-07",
			"paged/template/paged-template-04", "paged/prompt/paged_prompt_04", "paged/prompt/paged_prompt_05"}
		if !slices.Equal(g.found(), want) {
			t.Errorf("grep found %q, want %q", g.found(), want)
		}
		for _, m := range g.Matches {
			if m.Kind == "resource" && !strings.HasPrefix(m.URI, "test://paged/0") || m.Kind == "template" && m.URI != "test://paged-template-04/{id}" {
				t.Errorf("%s %s has uri %q", m.Kind, m.Name, m.URI)
			}
		}
		if g, _ := grepJSON(e, "grep", "test://paged/07"); !slices.Equal(g.found(), []string{"paged/resource/paged-resource-07"}) {
			t.Errorf("grep by URI found %q", g.found())
		}
	})

	t.Run("smart case: lower case ignores case, an upper-case letter makes it exact", func(t *testing.T) {
		e := e.on(t)
		for _, tc := range []struct {
			pattern string
			n       int
		}{{"paged tool 1 of 10", 1}, {"Paged tool 1 of 10", 1}, {"PAGED tool 1 of 10", 0}, {`paged\Stool`, 0}, {`\spaged tool 1 `, 0}} {
			g, r := grepJSON(e, "grep", tc.pattern)
			if r.Code != 0 || len(g.Matches) != tc.n {
				t.Errorf("grep %q: exit %d, %d matches %q; want %d", tc.pattern, r.Code, len(g.Matches), g.found(), tc.n)
			}
		}
	})

	t.Run("@s grep searches one session; human output is one aligned line a match", func(t *testing.T) {
		e := e.on(t)
		r := e.ok("@paged", "grep", "page_tool_0[12]")
		lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
		if len(lines) != 2 {
			t.Fatalf("@paged grep printed %d lines, want 2:\n%s", len(lines), r.Stdout)
		}
		for i, l := range lines {
			f := strings.Fields(l)
			if len(f) < 3 || f[0] != "@paged" || f[1] != "tool" || f[2] != fmt.Sprintf("page_tool_%02d", i+1) {
				t.Errorf("line %q, want @paged tool page_tool_%02d …", l, i+1)
			}
		}
		if r := e.ok("@other", "grep", "nothing-like-this"); r.Stdout != "" || !strings.Contains(r.Stderr, "no match") {
			t.Errorf("no match: stdout %q, stderr %q", r.Stdout, r.Stderr)
		}
	})

	t.Run("a pattern that does not compile: exit 1, the regexp's error, nothing appended", func(t *testing.T) {
		e := e.on(t)
		before := len(e.events())
		for _, args := range [][]string{{"grep", "page_("}, {"@paged", "grep", "page_("}, {"--json", "grep", "page_("}} {
			r := e.run(args...)
			if r.Code != 1 || !strings.Contains(r.Stderr, "missing closing )") || !strings.Contains(r.Stderr, "page_(") || r.Stdout != "" {
				t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 1 naming the regexp error", args, r.Code, r.Stdout, r.Stderr)
			}
		}
		if r := e.run("grep"); r.Code != 1 {
			t.Errorf("grep without a pattern: exit %d, want 1\n%s", r.Code, r.Stderr)
		}
		if after := len(e.events()); after != before {
			t.Errorf("bad patterns appended %d events", after-before)
		}
	})

	t.Run("a session that is not live is skipped with a note, not started", func(t *testing.T) {
		e := e.on(t)
		e.connectTest("gone", "--restart", "never")
		e.run("@gone", "tools-call", "crash", "code:=3")
		testwait.For(t, 30*time.Second, func() error {
			if s, _ := e.session("gone"); s.Status != "crashed" {
				return fmt.Errorf("@gone is %q, want crashed", s.Status)
			}
			return nil
		})
		g, r := grepJSON(e, "grep", "^page_tool_01$")
		if r.Code != 0 || len(g.Matches) != 2 {
			t.Errorf("grep with a crashed session: exit %d, matches %q\n%s", r.Code, g.found(), r.Stderr)
		}
		if len(g.Skipped) != 1 || g.Skipped[0].Session != "gone" || g.Skipped[0].Status != "crashed" || !strings.Contains(r.Stderr, "skipped @gone") {
			t.Errorf("skipped %+v, stderr %q; want @gone skipped as crashed with a note", g.Skipped, r.Stderr)
		}
		if s, _ := e.session("gone"); s.Status != "crashed" || s.Generation != 1 {
			t.Errorf("@gone after grep: %s generation %d; grep must not restart it", s.Status, s.Generation)
		}
	})

	t.Run("a live session that does not answer: the others' matches, a note, exit 3", func(t *testing.T) {
		e := e.on(t)
		s, _ := e.session("other")
		if s.Bridge == nil {
			t.Fatalf("@other has no bridge: %+v", s)
		}
		if err := syscall.Kill(s.Bridge.PID, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer syscall.Kill(s.Bridge.PID, syscall.SIGCONT)
		g, r := grepJSON(e, "--timeout", "5s", "grep", "^page_tool_02$")
		if r.Code != 3 || !slices.Equal(g.found(), []string{"paged/tool/page_tool_02"}) || !strings.Contains(r.Stderr, "could not search @other") {
			t.Errorf("grep with @other stopped: exit %d, found %q, stderr %q; want exit 3, @paged's match and a note", r.Code, g.found(), r.Stderr)
		}
		// (@gone was closed at the end of its subtest: a closed session is not listed.)
		if !slices.Equal(g.Searched, []string{"paged"}) || len(g.Skipped) != 1 || g.Skipped[0].Session != "other" || g.Skipped[0].Status != "error" {
			t.Errorf("searched %q, skipped %+v; want @paged searched, @other skipped with its error", g.Searched, g.Skipped)
		}
	})
}
