package sessions

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
)

func TestSessions_ListsTheSessionsOfThisNode(t *testing.T) {
	h := cmdtest.New(t)
	h.Created(t, "docs")
	r := h.Run(t, NewCmdSessions, "", "sessions", "--json")
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("sessions --json: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
		t.Fatalf("sessions --json: not a JSON array: %v\n%s", err, r.Out)
	}
	if len(got) != 1 || got[0]["session"] != "docs" {
		t.Errorf("sessions --json = %s, want one session named docs", r.Out)
	}
	r = h.Run(t, NewCmdSessions, "", "sessions")
	if r.Code != 0 || !strings.Contains(r.Out, "@docs") {
		t.Errorf("sessions: exit %d, stdout %q, want a line for @docs", r.Code, r.Out)
	}
}
