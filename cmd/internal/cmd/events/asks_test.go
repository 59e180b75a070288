package events

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// TestEvents_ServerAskedLineShowsMethodActionDurationAndError: the human line of a
// server_asked event says what the server asked, what became of it, how long answering
// took and why it failed or was declined; --json carries the same fields.
func TestEvents_ServerAskedLineShowsMethodActionDurationAndError(t *testing.T) {
	h := cmdtest.New(t)
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	asks := []struct {
		method, action, err string
		ms                  int64
	}{
		{"elicitation/create", "accept", "", 3},
		{"roots/list", "answered", "", 0},
		{"sampling/createMessage", "error", "sampling/createMessage: the sampling command failed: exit status 1", 1250},
		{"elicitation/create", "decline", `required field "name" has no default`, 1},
	}
	for i, a := range asks {
		e := events.New(events.KindServerAsked, cmdtest.Node, "docs", 2)
		e.Time = base.Add(time.Duration(i) * time.Minute)
		e.PID = 4242
		e.Method, e.Action, e.Error, e.DurationMS = a.method, a.action, a.err, a.ms
		h.Append(t, e)
	}

	r := h.Run(t, NewCmdEvents, "", "events", "--type", "server_asked")
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("events: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	got := lines(r.Out)
	if len(got) != len(asks) {
		t.Fatalf("events printed %d lines, want %d:\n%s", len(got), len(asks), r.Out)
	}
	for i, want := range [][]string{
		{"method=elicitation/create", "action=accept", "took=3ms"},
		{"method=roots/list", "action=answered", "took=0s"},
		{"method=sampling/createMessage", "action=error", "took=1.25s",
			`error="sampling/createMessage: the sampling command failed: exit status 1"`},
		{"method=elicitation/create", "action=decline", "took=1ms", `error="required field \"name\" has no default"`},
	} {
		f := strings.Fields(got[i])
		if len(f) < 6 || f[3] != "docs" || f[4] != "2" || f[5] != "server_asked" {
			t.Errorf("line %d = %q, want session docs, generation 2, type server_asked", i+1, got[i])
		}
		for _, w := range append(want, "pid=4242") {
			if !strings.Contains(got[i], w) {
				t.Errorf("line %d = %q, want it to contain %s", i+1, got[i], w)
			}
		}
		if asks[i].err == "" && strings.Contains(got[i], "error=") {
			t.Errorf("line %d = %q: an ask that did not fail shows an error", i+1, got[i])
		}
	}

	r = h.Run(t, NewCmdEvents, "", "events", "--type", "server_asked", "--json")
	if r.Code != 0 {
		t.Fatalf("events --json: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	for i, l := range lines(r.Out) {
		var e events.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if a := asks[i]; e.Method != a.method || e.Action != a.action || e.Error != a.err || e.DurationMS != a.ms {
			t.Errorf("--json line %d = %s, want method %s action %s error %q duration_ms %d", i+1, l, a.method, a.action, a.err, a.ms)
		}
	}
}
