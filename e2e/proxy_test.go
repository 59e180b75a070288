package e2e

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestProxy_PipedRequestsAreAllAnswered: `printf '<requests>' | mcpctl @s proxy` prints an
// answer to every request, a slow tool call included, and exits 0: the proxy's stdin ending
// is not the end of the answers. The bridge answers what it read before the EOF, then closes.
func TestProxy_PipedRequestsAreAllAnswered(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	in := `{"jsonrpc":"2.0","id":1,"method":"ping"}` + "\n" +
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"sleep","arguments":{"ms":700}}}` + "\n" +
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"add","arguments":{"a":2,"b":3}}}` + "\n"
	r := e.runIn([]byte(in), "@"+name, "proxy")
	if r.Code != 0 {
		t.Fatalf("want exit 0:\n%s", r)
	}
	got := map[int]string{}
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var m struct {
			ID     int             `json:"id"`
			Result json.RawMessage `json:"result"`
		}
		if json.Unmarshal([]byte(line), &m) == nil && m.Result != nil {
			got[m.ID] = string(m.Result)
		}
	}
	for id, want := range map[int]string{1: "{", 2: "slept 700", 3: `"sum":5`} {
		if !strings.Contains(got[id], want) {
			t.Errorf("answer to request %d: %q, want one with %s\n%s", id, got[id], want, r)
		}
	}
}
