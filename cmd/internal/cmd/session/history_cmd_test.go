package session

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// twoGenerations appends a session connected (generation 1, bridge pid 100) and then
// restarted on purpose (generation 2, bridge pid 200), whose first bridge was then stopped
// and exited with code 0.
func twoGenerations(t *testing.T, h *cmdtest.Hub, name string) {
	t.Helper()
	t0 := time.Now().Add(-time.Hour).UTC()
	at := func(e events.Event, d time.Duration) events.Event {
		e.Time = t0.Add(d)
		return e
	}
	c := events.New(events.KindCreated, cmdtest.Node, name, 1)
	c.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
	h.Append(t, at(c, 0))
	sp := events.New(events.KindBridgeSpawned, cmdtest.Node, name, 1)
	sp.PID = 100
	h.Append(t, at(sp, 10*time.Millisecond))
	h.Append(t, at(events.New(events.KindBridgeReady, cmdtest.Node, name, 1), 50*time.Millisecond))
	rr := events.New(events.KindRestartRequested, cmdtest.Node, name, 2)
	rr.Reason = "explicit: mcpctl restart"
	h.Append(t, at(rr, time.Second))
	st := events.New(events.KindBridgeStopping, cmdtest.Node, name, 1)
	st.Reason = "superseded"
	h.Append(t, at(st, time.Second+10*time.Millisecond))
	zero := 0
	ex := events.New(events.KindBridgeExited, cmdtest.Node, name, 1)
	ex.PID, ex.Code = 100, &zero
	h.Append(t, at(ex, time.Second+20*time.Millisecond))
	sp2 := events.New(events.KindBridgeSpawned, cmdtest.Node, name, 2)
	sp2.PID = 200
	h.Append(t, at(sp2, time.Second+30*time.Millisecond))
	h.Append(t, at(events.New(events.KindBridgeReady, cmdtest.Node, name, 2), time.Second+130*time.Millisecond))
}

func TestHistory_TellsEachGenerationFromTheLog(t *testing.T) {
	t.Run("human: the state, then each generation, who asked and how it ended", func(t *testing.T) {
		h := cmdtest.New(t)
		twoGenerations(t, h, "s")
		h.Created(t, "other") // another session's events are not this one's history
		r := h.Run(t, NewCmdHistory, "", "history", "@s")
		if r.Code != 0 || r.ErrOut != "" {
			t.Fatalf("history @s: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		for _, want := range []string{
			"@s: ready, generation 2, 1 restart(s), 0 crash(es)\n",
			"(connect, seq 1)\n",
			"  bridge        bridge pid 100, ready after 50ms\n",
			"  ended         stopping: superseded; bridge exited with code 0; after 970ms ready; followed by restart_requested\n",
			"(explicit, seq 4)\n",
			"  reason        explicit: mcpctl restart\n",
			"  previous      stopping: superseded; bridge exited with code 0",
			"  bridge        bridge pid 200, ready after 130ms\n",
			"  running       for ",
		} {
			if !strings.Contains(r.Out, want) {
				t.Errorf("history @s does not say %q:\n%s", want, r.Out)
			}
		}
		if n := strings.Count(r.Out, "\ngeneration "); n != 2 {
			t.Errorf("history @s shows %d generations, want 2:\n%s", n, r.Out)
		}
		if i, j := strings.Index(r.Out, "generation 1 "), strings.Index(r.Out, "generation 2 "); i < 0 || j < i {
			t.Errorf("history @s: generation 1 at %d, generation 2 at %d; want them in order:\n%s", i, j, r.Out)
		}
	})
	t.Run("--json: the state and one record per generation", func(t *testing.T) {
		h := cmdtest.New(t)
		twoGenerations(t, h, "s")
		r := h.Run(t, NewCmdHistory, "", "history", "@s", "--json")
		var got historyResult
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
			t.Fatalf("history @s --json: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
		}
		if got.Session != "s" || got.State.Generation != 2 || got.State.Restarts != 1 || len(got.Generations) != 2 {
			t.Fatalf("history @s --json: session %q, state generation %d restarts %d, %d generations; want s, 2, 1, 2",
				got.Session, got.State.Generation, got.State.Restarts, len(got.Generations))
		}
		g1, g2 := got.Generations[0], got.Generations[1]
		if g1.Generation != 1 || g1.Trigger != "connect" || g1.PID != 100 || g1.EndedBy != "restart_requested" ||
			g1.ExitCode == nil || *g1.ExitCode != 0 || g1.Current {
			t.Errorf("generation 1 = %+v, want connect, pid 100, exit 0, ended by restart_requested, not current", g1)
		}
		if g2.Generation != 2 || g2.Trigger != "explicit" || g2.RequestSeq != 4 || g2.PID != 200 || !g2.Current || g2.EndedBy != "" {
			t.Errorf("generation 2 = %+v, want explicit at seq 4, pid 200, current, not ended", g2)
		}
	})
	t.Run("a closed session: its last generation ended by closed", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		cl := events.New(events.KindClosed, cmdtest.Node, "s", 1)
		cl.Reason = "explicit: mcpctl close"
		h.Append(t, cl)
		r := h.Run(t, NewCmdHistory, "", "history", "@s", "--json")
		var got historyResult
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil || len(got.Generations) != 1 {
			t.Fatalf("history @s --json: exit %d, stdout %q, stderr %q; want one generation", r.Code, r.Out, r.ErrOut)
		}
		if g := got.Generations[0]; got.State.Status != "closed" || g.EndedBy != "closed" || g.EndReason != "explicit: mcpctl close" {
			t.Errorf("history of a closed @s: status %s, generation 1 ended by %q (%q); want closed, closed, explicit: mcpctl close",
				got.State.Status, g.EndedBy, g.EndReason)
		}
	})
	t.Run("--events: the session's raw events", func(t *testing.T) {
		h := cmdtest.New(t)
		twoGenerations(t, h, "s")
		h.Created(t, "other")
		r := h.Run(t, NewCmdHistory, "", "history", "@s", "--events")
		if r.Code != 0 {
			t.Fatalf("history @s --events: exit %d, stderr %q", r.Code, r.ErrOut)
		}
		lines := strings.Split(strings.TrimSuffix(r.Out, "\n"), "\n")
		if len(lines) != 8 || !strings.Contains(lines[0], "created") || !strings.Contains(lines[3], "restart_requested") ||
			strings.Contains(r.Out, "other") {
			t.Errorf("history @s --events printed %d lines, want the 8 events of @s (created first, restart_requested fourth), none of @other:\n%s", len(lines), r.Out)
		}
	})
}

func TestHistory_Refuses(t *testing.T) {
	t.Run("an unknown session: exit 1, not found", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "other")
		r := h.Run(t, NewCmdHistory, "", "history", "@nosuch")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@nosuch: not found") || r.Out != "" {
			t.Errorf("history @nosuch: exit %d, stdout %q, stderr %q; want 1, not found", r.Code, r.Out, r.ErrOut)
		}
	})
	t.Run("without a session: exit 1, usage", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdHistory, "", "history")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "history needs a session (@name)") {
			t.Errorf("history: exit %d, stderr %q; want 1, needs a session", r.Code, r.ErrOut)
		}
	})
}
