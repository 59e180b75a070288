package mcp

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// listCase is one paginated list command and the items its server holds.
type listCase struct {
	cmd, method, key string
	items            []string // raw JSON items, in the server's order
	shown            func(i int) string
}

// listCases are the four list commands, each with n items: enough for several pages.
func listCases(n int) []listCase {
	gen := func(f func(i int) string) []string {
		var out []string
		for i := 1; i <= n; i++ {
			out = append(out, f(i))
		}
		return out
	}
	return []listCase{
		{"tools-list", "tools/list", "tools",
			gen(func(i int) string {
				return fmt.Sprintf(`{"name":"tool-%02d","description":"Tool %d","inputSchema":{"type":"object","properties":{"n":{"type":"integer"}}}}`, i, i)
			}),
			func(i int) string { return fmt.Sprintf("tool-%02d", i) }},
		{"resources-list", "resources/list", "resources",
			gen(func(i int) string {
				return fmt.Sprintf(`{"uri":"test://r/%02d","name":"r%02d","mimeType":"text/plain"}`, i, i)
			}),
			func(i int) string { return fmt.Sprintf("test://r/%02d", i) }},
		{"resources-templates-list", "resources/templates/list", "resourceTemplates",
			gen(func(i int) string { return fmt.Sprintf(`{"uriTemplate":"test://t%02d/{id}","name":"t%02d"}`, i, i) }),
			func(i int) string { return fmt.Sprintf("test://t%02d/{id}", i) }},
		{"prompts-list", "prompts/list", "prompts",
			gen(func(i int) string { return fmt.Sprintf(`{"name":"prompt-%02d","description":"Prompt %d"}`, i, i) }),
			func(i int) string { return fmt.Sprintf("prompt-%02d", i) }},
	}
}

// pagedServer answers the list methods of cases size items a page, with the cursors
// "page-2", "page-3", … and a first page that also carries _meta; every other request as
// serverAnswer does. A cursor it did not send is a JSON-RPC error, as in mcp-go.
func pagedServer(size int, cases []listCase) func(string, json.RawMessage) answer {
	byMethod := map[string]listCase{}
	for _, c := range cases {
		byMethod[c.method] = c
	}
	return func(method string, params json.RawMessage) answer {
		c, ok := byMethod[method]
		if !ok {
			return serverAnswer(method, params)
		}
		var p struct{ Cursor string }
		_ = json.Unmarshal(params, &p)
		page := 1
		if p.Cursor != "" {
			n, err := strconv.Atoi(strings.TrimPrefix(p.Cursor, "page-"))
			if err != nil || !strings.HasPrefix(p.Cursor, "page-") || (n-1)*size >= len(c.items) {
				return answer{err: &rpc.RPCError{Code: -32602, Message: "invalid cursor " + p.Cursor}}
			}
			page = n
		}
		start, end := (page-1)*size, min(page*size, len(c.items))
		res := `{"` + c.key + `":[` + strings.Join(c.items[start:end], ",") + `]`
		if page == 1 {
			res += `,"_meta":{"example.com/page":1}`
		}
		if end < len(c.items) {
			res += `,"nextCursor":"page-` + strconv.Itoa(page+1) + `"`
		}
		return answer{result: json.RawMessage(res + "}")}
	}
}

// newPagedSession is session @docs on a fake bridge that answers with answerFn.
func newPagedSession(t *testing.T, answerFn func(string, json.RawMessage) answer) (*cmdtest.Hub, *fakeBridge) {
	t.Helper()
	h := cmdtest.New(t)
	b := startFakeBridge(t, answerFn)
	readySession(t, h, "docs", b.socket)
	return h, b
}

// cursorsSent returns the cursor of each request of method the bridge got ("" for none).
func cursorsSent(t *testing.T, b *fakeBridge, method string) []string {
	t.Helper()
	var out []string
	for _, m := range b.requests() {
		if m.Method != method {
			continue
		}
		var p map[string]string
		if err := json.Unmarshal(m.Params, &p); err != nil {
			t.Fatalf("%s params %s: %v", method, m.Params, err)
		}
		out = append(out, p["cursor"])
	}
	return out
}

func TestLists_FollowNextCursorToTheEnd(t *testing.T) {
	cases := listCases(10)
	h, b := newPagedSession(t, pagedServer(3, cases))
	for _, c := range cases {
		t.Run(c.cmd+" shows the items of all 4 pages in order", func(t *testing.T) {
			r := run(t, h, "", c.cmd, "@docs")
			if r.Code != exitOK || r.ErrOut != "" {
				t.Fatalf("%s @docs: exit %d, stderr %q", c.cmd, r.Code, r.ErrOut)
			}
			lines := strings.Split(strings.TrimRight(r.Out, "\n"), "\n")
			if len(lines) != len(c.items) {
				t.Fatalf("%s printed %d lines, want %d:\n%s", c.cmd, len(lines), len(c.items), r.Out)
			}
			for i, line := range lines {
				if f := strings.Fields(line); len(f) == 0 || shownName(f[0]) != c.shown(i+1) {
					t.Errorf("%s line %d = %q, want %s first", c.cmd, i+1, line, c.shown(i+1))
				}
			}
			got := cursorsSent(t, b, c.method)
			want := []string{"", "page-2", "page-3", "page-4"}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("%s sent cursors %q, want %q", c.method, got, want)
			}
		})
	}
}

func TestLists_JSONIsOneResultWithEveryItemAndNoCursor(t *testing.T) {
	cases := listCases(7)
	h, _ := newPagedSession(t, pagedServer(3, cases))
	for _, c := range cases {
		t.Run(c.cmd+" --json", func(t *testing.T) {
			r := run(t, h, "", c.cmd, "@docs", "--json")
			// The first page's other fields stay; the items are the server's, verbatim.
			want := `{"` + c.key + `":[` + strings.Join(c.items, ",") + `],"_meta":{"example.com/page":1}}`
			if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(want)) {
				t.Errorf("%s --json: exit %d, stdout %s\nwant %s", c.cmd, r.Code, r.Out, want)
			}
		})
	}
	t.Run("a server that does not page: the result as sent", func(t *testing.T) {
		h, _ := newSessionWithBridge(t)
		r := run(t, h, "", "prompts-list", "@docs", "--json")
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(promptsListResult)) {
			t.Errorf("prompts-list --json: exit %d, stdout %s; want %s", r.Code, r.Out, promptsListResult)
		}
	})
	t.Run("an empty last page ends the list", func(t *testing.T) {
		// mcp-go sends a nextCursor after a full page even when nothing follows; the page
		// after it is empty, its nextCursor "".
		h, b := newPagedSession(t, func(method string, params json.RawMessage) answer {
			if strings.Contains(string(params), "more") {
				return answer{result: json.RawMessage(`{"prompts":[],"nextCursor":""}`)}
			}
			return answer{result: json.RawMessage(`{"prompts":[{"name":"a"},{"name":"b"}],"nextCursor":"more"}`)}
		})
		r := run(t, h, "", "prompts-list", "@docs", "--json")
		if want := `{"prompts":[{"name":"a"},{"name":"b"}]}`; r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(want)) {
			t.Errorf("prompts-list --json: exit %d, stdout %s, stderr %q; want %s", r.Code, r.Out, r.ErrOut, want)
		}
		if n := len(b.requests()); n != 2 {
			t.Errorf("bridge got %d requests, want 2", n)
		}
	})
}

func TestToolsGet_FindsAToolOnAnyPage(t *testing.T) {
	cases := listCases(10)
	h, _ := newPagedSession(t, pagedServer(3, cases[:1]))
	for _, tool := range []string{"tool-01", "tool-05", "tool-10"} {
		t.Run(tool, func(t *testing.T) {
			r := run(t, h, "", "tools-get", "@docs", tool, "--json")
			n, _ := strconv.Atoi(strings.TrimPrefix(tool, "tool-"))
			if want := cases[0].items[n-1]; r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(want)) {
				t.Errorf("tools-get %s --json: exit %d, stdout %s, stderr %q; want %s", tool, r.Code, r.Out, r.ErrOut, want)
			}
		})
	}
	t.Run("a misspelt name is matched against every page", func(t *testing.T) {
		r := run(t, h, "", "tools-get", "@docs", "tool-1O")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "Try: did you mean tool-10?") {
			t.Errorf("tools-get tool-1O: exit %d, stderr %q; want %d and a suggestion from page 4", r.Code, r.ErrOut, exitUsage)
		}
	})
	t.Run("an unknown name lists the tools of every page", func(t *testing.T) {
		r := run(t, h, "", "tools-get", "@docs", "translate")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "tool-01, tool-02") || !strings.Contains(r.ErrOut, "tool-09, tool-10") {
			t.Errorf("tools-get translate: exit %d, stderr %q; want %d and all ten names", r.Code, r.ErrOut, exitUsage)
		}
	})
}

func TestToolsCall_ToolOnALaterPageIsCalledWithoutListing(t *testing.T) {
	cases := listCases(10)
	h, b := newPagedSession(t, pagedServer(3, cases[:1]))
	r := run(t, h, "", "tools-call", "@docs", "echo", "n:=10")
	if r.Code != exitOK {
		t.Fatalf("tools-call echo: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	if req := b.onlyRequest(t); req.Method != "tools/call" {
		t.Errorf("bridge got %s, want only tools/call: the name goes to the server as given", req.Method)
	}
}

func TestLists_ALoopingServerIsStopped(t *testing.T) {
	for _, tc := range []struct {
		name string
		next func(cursor string) string // the nextCursor answered to a request with cursor
		want string                     // in the error
		reqs int
	}{
		{"the same cursor forever", func(string) string { return "again" },
			`nextCursor "again" on page 2, as on page 1`, 2},
		{"a cycle of two cursors", func(c string) string {
			if c == "a" {
				return "b"
			}
			return "a"
		}, `nextCursor "a" on page 3, as on page 1`, 3},
	} {
		for _, c := range listCases(1) {
			t.Run(tc.name+": "+c.cmd, func(t *testing.T) {
				h, b := newPagedSession(t, func(method string, params json.RawMessage) answer {
					var p struct{ Cursor string }
					_ = json.Unmarshal(params, &p)
					return answer{result: json.RawMessage(`{"` + c.key + `":[` + c.items[0] + `],"nextCursor":"` + tc.next(p.Cursor) + `"}`)}
				})
				r := run(t, h, "", c.cmd, "@docs")
				if r.Code != exitNetwork {
					t.Errorf("%s: exit %d, want %d", c.cmd, r.Code, exitNetwork)
				}
				want := "mcpctl: " + c.method + " on @docs: the server sent a cursor it had sent before: " + tc.want + "; stopped paging\n"
				if !strings.HasPrefix(r.ErrOut, want) || !strings.Contains(r.ErrOut, "Try: one page at a time: mcpctl @docs "+c.cmd+" --cursor CURSOR") {
					t.Errorf("%s: stderr %q, want %q and a --cursor hint", c.cmd, r.ErrOut, want)
				}
				if r.Out != "" {
					t.Errorf("%s: stdout %q, want nothing", c.cmd, r.Out)
				}
				if n := len(b.requests()); n != tc.reqs {
					t.Errorf("%s: bridge got %d requests, want %d", c.cmd, n, tc.reqs)
				}
			})
		}
	}
	t.Run("tools-get on a looping server", func(t *testing.T) {
		h, _ := newPagedSession(t, func(string, json.RawMessage) answer {
			return answer{result: json.RawMessage(`{"tools":[],"nextCursor":"x"}`)}
		})
		r := run(t, h, "", "tools-get", "@docs", "search")
		if r.Code != exitNetwork || !strings.Contains(r.ErrOut, `tools/list on @docs: the server sent a cursor it had sent before: nextCursor "x"`) ||
			!strings.Contains(r.ErrOut, "mcpctl @docs tools-list --cursor") {
			t.Errorf("tools-get on a looping server: exit %d, stderr %q; want %d, the cursor and a tools-list hint", r.Code, r.ErrOut, exitNetwork)
		}
	})
}

func TestLists_EndlessNewCursorsStopAtThePageLimit(t *testing.T) {
	h, b := newPagedSession(t, func(method string, params json.RawMessage) answer {
		var p struct{ Cursor string }
		_ = json.Unmarshal(params, &p)
		n, _ := strconv.Atoi(p.Cursor)
		return answer{result: json.RawMessage(`{"tools":[{"name":"t` + strconv.Itoa(n) + `"}],"nextCursor":"` + strconv.Itoa(n+1) + `"}`)}
	})
	r := run(t, h, "", "tools-list", "@docs")
	want := fmt.Sprintf("mcpctl: tools/list on @docs: the server still had more pages after %d pages (last nextCursor %q); stopped paging\n",
		sessioncall.MaxListPages, strconv.Itoa(sessioncall.MaxListPages))
	if r.Code != exitNetwork || !strings.HasPrefix(r.ErrOut, want) {
		t.Errorf("tools-list on an endless server: exit %d, stderr %q; want %d and %q", r.Code, r.ErrOut, exitNetwork, want)
	}
	if n := len(b.requests()); n != sessioncall.MaxListPages {
		t.Errorf("bridge got %d requests, want %d", n, sessioncall.MaxListPages)
	}
}

func TestLists_MalformedPagesAreErrors(t *testing.T) {
	for _, tc := range []struct {
		name, page2, want string
	}{
		{"nextCursor not a string", `{"tools":[],"nextCursor":7}`, "page 2: the server sent a page that is not a list result: nextCursor 7 is not a string"},
		{"items not an array", `{"tools":{"name":"x"}}`, "page 2: the server sent a page that is not a list result: tools is not an array"},
		{"not an object", `[1]`, "page 2: the server sent a page that is not a list result: not a JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newPagedSession(t, func(method string, params json.RawMessage) answer {
				if strings.Contains(string(params), "p2") {
					return answer{result: json.RawMessage(tc.page2)}
				}
				return answer{result: json.RawMessage(`{"tools":[{"name":"a"}],"nextCursor":"p2"}`)}
			})
			r := run(t, h, "", "tools-list", "@docs")
			if r.Code != exitNetwork || !strings.Contains(r.ErrOut, "tools/list on @docs: "+tc.want) {
				t.Errorf("tools-list: exit %d, stderr %q; want %d and %q", r.Code, r.ErrOut, exitNetwork, tc.want)
			}
		})
	}
	t.Run("a server error on page 2 is the server's error", func(t *testing.T) {
		h, _ := newPagedSession(t, func(method string, params json.RawMessage) answer {
			if strings.Contains(string(params), "p2") {
				return answer{err: &rpc.RPCError{Code: -32602, Message: "invalid cursor p2"}}
			}
			return answer{result: json.RawMessage(`{"tools":[{"name":"a"}],"nextCursor":"p2"}`)}
		})
		r := run(t, h, "", "tools-list", "@docs")
		if want := "mcpctl: tools/list on @docs: server error -32602: invalid cursor p2\n"; r.Code != exitServer || r.ErrOut != want {
			t.Errorf("tools-list: exit %d, stderr %q; want %d and %q", r.Code, r.ErrOut, exitServer, want)
		}
		if r.Out != "" {
			t.Errorf("tools-list: stdout %q, want nothing (no partial list)", r.Out)
		}
	})
}

func TestLists_CursorFlagGetsOnePage(t *testing.T) {
	cases := listCases(10)
	h, b := newPagedSession(t, pagedServer(3, cases))
	t.Run("a page in the middle, and where the next one is", func(t *testing.T) {
		before := len(b.requests())
		r := run(t, h, "", "resources-list", "@docs", "--cursor", "page-2")
		if r.Code != exitOK {
			t.Fatalf("resources-list --cursor page-2: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		if f := strings.Fields(r.Out); len(f) != 9 || f[0] != "test://r/04" || f[6] != "test://r/06" {
			t.Errorf("resources-list --cursor page-2 printed %q, want r/04 to r/06", r.Out)
		}
		if want := "next page: mcpctl @docs resources-list --cursor page-3\n"; r.ErrOut != want {
			t.Errorf("resources-list --cursor page-2: stderr %q, want %q", r.ErrOut, want)
		}
		reqs := b.requests()[before:]
		if len(reqs) != 1 || !jsonEqual(t, reqs[0].Params, []byte(`{"cursor":"page-2"}`)) {
			t.Errorf("bridge got %v, want one resources/list {\"cursor\":\"page-2\"}", reqs)
		}
	})
	t.Run(`--cursor "" is the first page raw, nextCursor included, in JSON`, func(t *testing.T) {
		r := run(t, h, "", "prompts-list", "@docs", "--cursor", "", "--json")
		want := `{"prompts":[` + strings.Join(cases[3].items[:3], ",") + `],"_meta":{"example.com/page":1},"nextCursor":"page-2"}`
		if r.Code != exitOK || !jsonEqual(t, []byte(r.Out), []byte(want)) {
			t.Errorf("prompts-list --cursor '' --json: exit %d, stdout %s; want %s", r.Code, r.Out, want)
		}
	})
	t.Run("the last page says nothing of a next one", func(t *testing.T) {
		r := run(t, h, "", "tools-list", "@docs", "--cursor", "page-4")
		if r.Code != exitOK || r.ErrOut != "" || strings.TrimSpace(r.Out) == "" || shownName(strings.Fields(r.Out)[0]) != "tool-10" {
			t.Errorf("tools-list --cursor page-4: exit %d, stdout %q, stderr %q; want tool-10 and nothing on stderr", r.Code, r.Out, r.ErrOut)
		}
	})
	t.Run("only the list commands have it", func(t *testing.T) {
		r := run(t, h, "", "tools-get", "@docs", "tool-01", "--cursor", "page-2")
		if r.Code != exitUsage || !strings.Contains(r.ErrOut, "unknown flag: --cursor") {
			t.Errorf("tools-get --cursor: exit %d, stderr %q; want %d and unknown flag", r.Code, r.ErrOut, exitUsage)
		}
	})
}

// shownName is the name in the first word of a list line: a tool's comes with its
// signature, search(query: string).
func shownName(word string) string {
	name, _, _ := strings.Cut(word, "(")
	return name
}
