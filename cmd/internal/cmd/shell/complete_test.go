package shell

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func testCompleter(fetches *int) *completer {
	return &completer{
		commands: []string{"exit", "prompts-get", "tools-call", "tools-get", "tools-list"},
		list: func(_ context.Context, method, key string) ([]json.RawMessage, error) {
			*fetches++
			if method == "prompts/list" {
				return []json.RawMessage{json.RawMessage(`{"name":"greet","arguments":[{"name":"who"},{"name":"how"}]}`)}, nil
			}
			return []json.RawMessage{
				json.RawMessage(`{"name":"echo","inputSchema":{"type":"object","properties":{"text":{},"times":{}}}}`),
				json.RawMessage(`{"name":"add","inputSchema":{"type":"object","properties":{"a":{},"b":{}}}}`),
				json.RawMessage(`{"name":"none"}`),
				json.RawMessage(`"not an object"`),
			}, nil
		},
	}
}

func TestComplete_CommandsToolsAndArguments(t *testing.T) {
	var fetches int
	c := testCompleter(&fetches)
	for _, tc := range []struct {
		line  string
		want  []string
		space bool
	}{
		{"", []string{"exit", "prompts-get", "tools-call", "tools-get", "tools-list"}, true},
		{"tools-c", []string{"tools-call"}, true},
		{"tools-call ", []string{"add", "echo", "none"}, true},
		{"tools-call e", []string{"echo"}, true},
		{"@other tools-get a", []string{"add"}, true},
		{"tools-call echo ", []string{"text:=", "times:="}, false},
		{"tools-call echo te", []string{"text:="}, false},
		{"tools-call echo text:=hi t", []string{"times:="}, false},
		{`tools-call echo "text:=a b" `, []string{"times:="}, false},
		{"tools-call add a:=1 b:=2 ", nil, false},
		{"tools-call nosuch ", nil, false},
		{"prompts-get ", []string{"greet"}, true},
		{"prompts-get greet w", []string{"who:="}, false},
		{"tools-call echo 'open", nil, false},
		{"tools-list x", nil, false},
	} {
		got, space := c.Complete(context.Background(), tc.line)
		if !slices.Equal(got, tc.want) || (len(got) > 0 && space != tc.space) {
			t.Errorf("Complete(%q) = %q, space %v; want %q, space %v", tc.line, got, space, tc.want, tc.space)
		}
	}
	if fetches != 2 {
		t.Errorf("the lists were fetched %d times, want once each (2)", fetches)
	}
	c.forget()
	c.Complete(context.Background(), "tools-call ")
	if fetches != 3 {
		t.Errorf("after forget, tools were not fetched again (%d fetches)", fetches)
	}
}

func TestHistory_FileIs0600AndKeepsNoSecrets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shell_history")
	h, err := openHistory(path)
	if err != nil || h.Len() != 0 {
		t.Fatalf("openHistory of no file: %d lines, %v", h.Len(), err)
	}
	for _, l := range []string{"tools-list", "connect https://x -H 'Authorization: Bearer abc'", "tools-call t 'Authorization: x'",
		"connect https://x --header=X-Api-Key:1", "tools-call echo text:=hi", "", "   "} {
		if _, err := h.Write(l); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("history file: %v, %v; want mode 0600", fi, err)
	}
	again, err := openHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Dump().([]string); !slices.Equal(got, []string{"tools-list", "tools-call echo text:=hi"}) {
		t.Errorf("history read back %q; want the two lines without secrets", got)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := again.Write("ping"); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("a history file made 0644 stays %v after a write; want 0600", fi.Mode().Perm())
	}
}

// A 2026-07-28 list result carries objects besides the list (cache hints, _meta): completion
// must still find the tools (it found none against such a server).
func TestListItems_OnlyTheListMember(t *testing.T) {
	res := json.RawMessage(`{"tools":[{"name":"echo"},{"name":"add"}],"nextCursor":"c","ttlMs":60000,"_meta":{"k":{"v":1}},"cacheScope":"session"}`)
	items, err := listItems(res, "tools/list", "tools")
	if err != nil || len(items) != 2 {
		t.Fatalf("listItems = %d items, %v; want the 2 tools", len(items), err)
	}
	if items, err := listItems(json.RawMessage(`{"_meta":{}}`), "tools/list", "tools"); err != nil || items != nil {
		t.Errorf("listItems without the member = %v, %v; want nothing and no error", items, err)
	}
	if _, err := listItems(json.RawMessage(`{"tools":{"name":"x"}}`), "tools/list", "tools"); err == nil {
		t.Error("listItems of a member that is no array: no error")
	}
}
