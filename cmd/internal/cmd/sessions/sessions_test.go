package sessions

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
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

// session is the part of a `sessions --json` element these tests look at.
type session struct {
	Node       string `json:"node"`
	Session    string `json:"session"`
	Status     string `json:"status"`
	Generation uint64 `json:"generation"`
	Server     struct {
		Transport string `json:"transport"`
		Command   string `json:"command"`
	} `json:"server"`
}

// listJSON runs `sessions --json` with args and decodes its array.
func listJSON(t *testing.T, h *cmdtest.Hub, args ...string) []session {
	t.Helper()
	r := h.Run(t, NewCmdSessions, "", append([]string{"sessions", "--json"}, args...)...)
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("sessions --json %q: exit %d, stderr %q", args, r.Code, r.ErrOut)
	}
	var got []session
	if err := json.Unmarshal([]byte(r.Out), &got); err != nil {
		t.Fatalf("sessions --json %q: not a JSON array: %v\n%s", args, err, r.Out)
	}
	return got
}

// summary is "name status gen" for each session, in listing order.
func summary(list []session) []string {
	out := []string{}
	for _, s := range list {
		out = append(out, fmt.Sprintf("%s %s %d", s.Session, s.Status, s.Generation))
	}
	return out
}

func at(e events.Event, t time.Time) events.Event {
	e.Time = t
	return e
}

func TestSessions_Listing(t *testing.T) {
	t.Run("no sessions: stdout empty, a hint on stderr, exit 0", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdSessions, "", "sessions")
		if r.Code != 0 || r.Out != "" || !strings.Contains(r.ErrOut, "no sessions") || !strings.Contains(r.ErrOut, "mcpctl connect") {
			t.Errorf("sessions on an empty hub: exit %d, stdout %q, stderr %q, want 0, nothing, a hint to connect", r.Code, r.Out, r.ErrOut)
		}
	})

	t.Run("no sessions, --json: an empty array", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdSessions, "", "sessions", "--json")
		if r.Code != 0 || strings.TrimSpace(r.Out) != "[]" || r.ErrOut != "" {
			t.Errorf("sessions --json on an empty hub: exit %d, stdout %q, stderr %q, want 0 and []", r.Code, r.Out, r.ErrOut)
		}
	})

	t.Run("--json: sorted by name, with status, generation and server", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "zeta")
		h.Created(t, "alpha")
		h.Append(t, events.New(events.KindBridgeReady, cmdtest.Node, "alpha", 1))
		got := listJSON(t, h)
		if want := []string{"alpha ready 1", "zeta starting 1"}; !slices.Equal(summary(got), want) {
			t.Fatalf("sessions --json = %v, want %v", summary(got), want)
		}
		if s := got[0]; s.Node != cmdtest.Node || s.Server.Transport != "stdio" || s.Server.Command != "mcptestserver" {
			t.Errorf("sessions --json alpha = %+v, want node %s and the stdio server mcptestserver", s, cmdtest.Node)
		}
	})

	t.Run("text: a header and one line a session with its status, generation and server", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "docs")
		h.Append(t, events.New(events.KindRestartRequested, cmdtest.Node, "docs", 2))
		r := h.Run(t, NewCmdSessions, "", "sessions")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("sessions: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		lines := strings.Split(strings.TrimRight(r.Out, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "SESSION") {
			t.Fatalf("sessions stdout = %q, want a header and one line", r.Out)
		}
		if f := strings.Fields(lines[1]); len(f) < 5 || f[0] != "@docs" || f[1] != "restarting" || f[2] != "2" || f[3] != "-" || f[4] != "mcptestserver" {
			t.Errorf("sessions line = %q, want @docs restarting 2 - mcptestserver …", lines[1])
		}
	})

	t.Run("closed sessions are listed, cleaned ones are not", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "kept")
		h.Created(t, "gone")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "kept", 1))
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "gone", 1))
		h.Append(t, events.New(events.KindCleaned, cmdtest.Node, "gone", 1))
		if got, want := summary(listJSON(t, h)), []string{"kept closed 1"}; !slices.Equal(got, want) {
			t.Errorf("sessions --json = %v, want %v", got, want)
		}
	})

	t.Run("another node's sessions only with --all-nodes, addressed @name@node", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "mine")
		e := events.New(events.KindCreated, "n2", "theirs", 1)
		e.Server = &events.Server{Transport: events.TransportStdio, Command: "srv"}
		h.Append(t, e)
		if got, want := summary(listJSON(t, h)), []string{"mine starting 1"}; !slices.Equal(got, want) {
			t.Errorf("sessions --json = %v, want only this node's: %v", got, want)
		}
		if got, want := summary(listJSON(t, h, "--all-nodes")), []string{"mine starting 1", "theirs starting 1"}; !slices.Equal(got, want) {
			t.Errorf("sessions --json --all-nodes = %v, want %v", got, want)
		}
		r := h.Run(t, NewCmdSessions, "", "sessions", "--all-nodes")
		if r.Code != 0 || !strings.Contains(r.Out, "@theirs@n2 ") || !strings.Contains(r.Out, "@mine ") {
			t.Errorf("sessions --all-nodes: exit %d, stdout %q, want @mine and @theirs@n2", r.Code, r.Out)
		}
	})
}

func TestSessions_AtShowsAPastState(t *testing.T) {
	h := cmdtest.New(t)
	now := time.Now().UTC()
	created := events.New(events.KindCreated, cmdtest.Node, "docs", 1)
	created.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
	seqCreated := h.Append(t, at(created, now.Add(-3*time.Hour)))
	h.Append(t, at(events.New(events.KindBridgeReady, cmdtest.Node, "docs", 1), now.Add(-2*time.Hour)))
	late := events.New(events.KindCreated, cmdtest.Node, "late", 1)
	late.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
	h.Append(t, at(late, now.Add(-90*time.Minute)))
	h.Append(t, at(events.New(events.KindClosed, cmdtest.Node, "docs", 1), now.Add(-1*time.Hour)))

	for _, tc := range []struct {
		at   string
		want []string
	}{
		{"", []string{"docs closed 1", "late starting 1"}},
		{strconv.FormatUint(seqCreated, 10), []string{"docs starting 1"}},
		{strconv.FormatUint(seqCreated+1, 10), []string{"docs ready 1"}},
		{"0", []string{}},
		{"150m", []string{"docs starting 1"}},
		{"75m", []string{"docs ready 1", "late starting 1"}},
		{now.Add(-30 * time.Minute).Format(time.RFC3339), []string{"docs closed 1", "late starting 1"}},
		{now.Add(-4 * time.Hour).Format(time.RFC3339), []string{}},
	} {
		t.Run("--at "+tc.at, func(t *testing.T) {
			var args []string
			if tc.at != "" {
				args = []string{"--at", tc.at}
			}
			if got := summary(listJSON(t, h, args...)); !slices.Equal(got, tc.want) {
				t.Errorf("sessions --json --at %q = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestSessions_BadInputIsAUsageError(t *testing.T) {
	h := cmdtest.New(t)
	h.Created(t, "docs")
	for _, args := range [][]string{
		{"--at", "yesterday"},
		{"--at", "-5m"},
		{"@docs"},
		{"--bogus"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := h.Run(t, NewCmdSessions, "", append([]string{"sessions"}, args...)...)
			if r.Code != 1 || r.Out != "" || r.ErrOut == "" {
				t.Errorf("sessions %q: exit %d, stdout %q, stderr %q, want 1, nothing, an error", args, r.Code, r.Out, r.ErrOut)
			}
		})
	}
}
