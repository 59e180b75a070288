package session

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// restartsIn counts the restart_requested events in evs.
func restartsIn(evs []events.Event) int {
	n := 0
	for _, e := range evs {
		if e.Type == events.KindRestartRequested {
			n++
		}
	}
	return n
}

func TestRestart_AsksForTheNextGenerationAndWaitsForIt(t *testing.T) {
	t.Run("a ready session: one restart_requested, then the new bridge's pid", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		openSession(t, h, "s", sock)
		superviseOnWait(t, h, "s", sock)
		seq := head(t, h)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s")
		want := fmt.Sprintf("@s restarted to generation 2 (bridge pid %d)\n", os.Getpid())
		if r.Code != 0 || r.Out != want {
			t.Fatalf("restart @s: exit %d, stdout %q, stderr %q; want 0, %q", r.Code, r.Out, r.ErrOut, want)
		}
		got := appendedSince(t, h, "s", seq)
		if len(got) == 0 || got[0].Type != events.KindRestartRequested || got[0].Generation != 2 ||
			got[0].Reason != "explicit: mcpctl restart" || !got[0].Fresh {
			t.Fatalf("restart @s appended %+v, want first a fresh restart_requested for generation 2, reason explicit", got)
		}
		if n := restartsIn(got); n != 1 {
			t.Errorf("restart @s appended %d restart_requested, want 1: %v", n, kindsOf(got))
		}
	})
	t.Run("--json: started, the generation, ready and the pid", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		openSession(t, h, "s", sock)
		superviseOnWait(t, h, "s", sock)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s", "--json")
		var got restartResult
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
			t.Fatalf("restart @s --json: exit %d, stdout %q, stderr %q; want 0 and a JSON object", r.Code, r.Out, r.ErrOut)
		}
		want := restartResult{Session: "s", Started: true, Generation: 2, Status: "ready", PID: os.Getpid()}
		if got != want {
			t.Errorf("restart @s --json = %+v, want %+v", got, want)
		}
	})
	t.Run("a crashed session is restarted too", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		openSession(t, h, "s", sock)
		lost := event(events.KindServerLost, "s", 1)
		lost.Error = "exit status 1"
		h.Append(t, lost)
		superviseOnWait(t, h, "s", sock)
		seq := head(t, h)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s")
		if r.Code != 0 || !strings.HasPrefix(r.Out, "@s restarted to generation 2") {
			t.Errorf("restart of a crashed @s: exit %d, stdout %q, stderr %q; want restarted to generation 2", r.Code, r.Out, r.ErrOut)
		}
		if n := restartsIn(appendedSince(t, h, "s", seq)); n != 1 {
			t.Errorf("restart of a crashed @s appended %d restart_requested, want 1", n)
		}
	})
}

func TestRestart_ConcurrentCallersJoinOneGeneration(t *testing.T) {
	t.Run("a restart already pending is joined: nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		openSession(t, h, "s", sock)
		pending := event(events.KindRestartRequested, "s", 2)
		pending.Reason = "restart policy on-failure"
		h.Append(t, pending)
		superviseOnWait(t, h, "s", sock)
		seq := head(t, h)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s", "--json")
		var got restartResult
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
			t.Fatalf("restart @s --json: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
		}
		if got.Started || got.Generation != 2 || got.Status != "ready" {
			t.Errorf("restart @s --json while generation 2 is pending = %+v, want joined (started false) generation 2, ready", got)
		}
		if n := restartsIn(appendedSince(t, h, "s", seq)); n != 0 {
			t.Errorf("joining a pending restart appended %d restart_requested, want none", n)
		}
	})
	t.Run("the human output says joined", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		openSession(t, h, "s", sock)
		h.Append(t, event(events.KindRestartRequested, "s", 2))
		superviseOnWait(t, h, "s", sock)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s")
		want := fmt.Sprintf("@s joined the restart to generation 2 (bridge pid %d)\n", os.Getpid())
		if r.Code != 0 || r.Out != want {
			t.Errorf("restart @s while pending: exit %d, stdout %q, stderr %q; want %q", r.Code, r.Out, r.ErrOut, want)
		}
	})
	t.Run("two callers at once: one restart_requested, one started and one joined", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		openSession(t, h, "s", sock)
		superviseOnWait(t, h, "s", sock)
		seq := head(t, h)
		var wg sync.WaitGroup
		results := make([]cmdtest.Result, 2)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = h.Run(t, NewCmdRestart, "", "restart", "@s", "--json")
			}()
		}
		wg.Wait()
		started := 0
		for i, r := range results {
			var got restartResult
			if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
				t.Fatalf("caller %d: exit %d, stdout %q, stderr %q", i, r.Code, r.Out, r.ErrOut)
			}
			if got.Generation != 2 {
				t.Errorf("caller %d got generation %d, want 2", i, got.Generation)
			}
			if got.Started {
				started++
			}
		}
		if started != 1 {
			t.Errorf("%d callers say they started the restart, want exactly 1", started)
		}
		if n := restartsIn(appendedSince(t, h, "s", seq)); n != 1 {
			t.Errorf("two concurrent restarts appended %d restart_requested, want 1", n)
		}
	})
}

func TestRestart_Failures(t *testing.T) {
	t.Run("no bridge comes up before --timeout: exit 3, the request stands", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", "/nonexistent/b.sock")
		seq := head(t, h)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s", "--timeout", "200ms")
		if r.Code != 3 || !strings.Contains(r.ErrOut, "waiting for @s") || !strings.Contains(r.ErrOut, "timed out after 200ms (--timeout)") {
			t.Errorf("restart @s --timeout 200ms without a supervisor: exit %d, stderr %q; want 3, timed out waiting for @s", r.Code, r.ErrOut)
		}
		got := appendedSince(t, h, "s", seq)
		if len(got) != 1 || got[0].Type != events.KindRestartRequested || got[0].Generation != 2 {
			t.Errorf("restart @s that timed out appended %v, want one restart_requested for generation 2", kindsOf(got))
		}
	})
	t.Run("an unknown session: exit 1, not found, nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "other")
		seq := head(t, h)
		r := h.Run(t, NewCmdRestart, "", "restart", "@nosuch")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "@nosuch: not found") || r.Out != "" {
			t.Errorf("restart @nosuch: exit %d, stdout %q, stderr %q; want 1, not found", r.Code, r.Out, r.ErrOut)
		}
		if got := head(t, h); got != seq {
			t.Errorf("restart @nosuch moved the log from %d to %d, want nothing appended", seq, got)
		}
	})
	t.Run("a closed session: exit 1, closed, with how to open it again", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "s", 1))
		seq := head(t, h)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "restart @s: session closed") || !strings.Contains(r.ErrOut, "Try: open it again") {
			t.Errorf("restart of a closed @s: exit %d, stderr %q; want 1, session closed, a hint", r.Code, r.ErrOut)
		}
		if got := head(t, h); got != seq {
			t.Errorf("restart of a closed @s moved the log from %d to %d, want nothing appended", seq, got)
		}
	})
	t.Run("a cleaned session is not found", func(t *testing.T) {
		h := cleanedSession(t, "s")
		seq := head(t, h)
		r := h.Run(t, NewCmdRestart, "", "restart", "@s")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "not found") {
			t.Errorf("restart of a cleaned @s: exit %d, stderr %q; want 1, not found", r.Code, r.ErrOut)
		}
		appendedNothing(t, h, seq, "restart of a cleaned @s")
	})
	t.Run("without a session: exit 1, usage", func(t *testing.T) {
		h := cmdtest.New(t)
		r := h.Run(t, NewCmdRestart, "", "restart")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "restart needs a session (@name)") {
			t.Errorf("restart: exit %d, stderr %q; want 1, needs a session", r.Code, r.ErrOut)
		}
	})
}
