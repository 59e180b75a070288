package session

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// TestHistory_ShowsWhatTheServerAskedEachGeneration: server_asked events are counted per
// generation, a line a method and action, with the time and the reason of the last one.
func TestHistory_ShowsWhatTheServerAskedEachGeneration(t *testing.T) {
	h := cmdtest.New(t)
	twoGenerations(t, h, "s")
	t0 := time.Now().Add(-30 * time.Minute).UTC()
	ask := func(gen uint64, at time.Duration, method, action, why string) {
		e := events.New(events.KindServerAsked, cmdtest.Node, "s", gen)
		e.Time, e.PID = t0.Add(at), 200
		e.Method, e.Action, e.Error, e.DurationMS = method, action, why, 2
		h.Append(t, e)
	}
	ask(2, 0, "roots/list", "answered", "")
	ask(2, time.Second, "elicitation/create", "decline", `required field "name" has no default`)
	ask(2, 2*time.Second, "elicitation/create", "decline", "URL mode is answered by policy: nobody to visit the URL")
	ask(2, 3*time.Second, "elicitation/create", "accept", "")

	r := h.Run(t, NewCmdHistory, "", "history", "@s")
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("history @s: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	g2 := r.Out[strings.Index(r.Out, "\ngeneration 2 "):]
	for _, want := range []string{
		"  server asked  roots/list answered, 1 time(s), last at ",
		"  server asked  elicitation/create decline, 2 time(s), last at ",
		": URL mode is answered by policy: nobody to visit the URL\n",
		"  server asked  elicitation/create accept, 1 time(s), last at ",
	} {
		if !strings.Contains(g2, want) {
			t.Errorf("history @s, generation 2, does not say %q:\n%s", want, r.Out)
		}
	}
	if strings.Count(r.Out, "server asked") != 3 {
		t.Errorf("history @s: want 3 server asked lines, all in generation 2:\n%s", r.Out)
	}

	r = h.Run(t, NewCmdHistory, "", "history", "@s", "--json")
	var got historyResult
	if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil || len(got.Generations) != 2 {
		t.Fatalf("history @s --json: exit %d, stdout %q", r.Code, r.Out)
	}
	if a := got.Generations[0].Asks; len(a) != 0 {
		t.Errorf("generation 1 asks = %+v, want none", a)
	}
	a := got.Generations[1].Asks
	if len(a) != 3 || a[0].Method != "roots/list" || a[0].Count != 1 ||
		a[1].Method != "elicitation/create" || a[1].Action != "decline" || a[1].Count != 2 || !a[1].LastAt.Equal(t0.Add(2*time.Second)) ||
		a[1].LastError != "URL mode is answered by policy: nobody to visit the URL" || a[2].Action != "accept" || a[2].LastError != "" {
		t.Errorf("generation 2 asks = %+v", a)
	}
}
