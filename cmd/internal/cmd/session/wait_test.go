package session

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
)

// followedLog tells when a command starts following the log: from then on, what a test
// appends is news to it rather than part of the state it loaded.
type followedLog struct {
	events.Log
	once      sync.Once
	following chan struct{}
}

func (l *followedLog) Follow(ctx context.Context, q events.Query, fn func(events.Event) error) error {
	l.once.Do(func() { close(l.following) })
	return l.Log.Follow(ctx, q, fn)
}

// runFollowing runs the command in the background and returns, once it follows the log, a
// function that waits for its result.
func runFollowing(t *testing.T, h *cmdtest.Hub, args ...string) func() cmdtest.Result {
	t.Helper()
	l := &followedLog{Log: h.Conn.Log, following: make(chan struct{})}
	h.Conn.Log = l
	done := make(chan cmdtest.Result, 1)
	go func() { done <- h.Run(t, NewCmdWait, "", args...) }()
	select {
	case <-l.following:
	case r := <-done:
		t.Fatalf("%q ended before following the log: exit %d, stdout %q, stderr %q", args, r.Code, r.Out, r.ErrOut)
	case <-time.After(10 * time.Second):
		t.Fatalf("%q did not follow the log within 10s", args)
	}
	return func() cmdtest.Result {
		t.Helper()
		select {
		case r := <-done:
			return r
		case <-time.After(10 * time.Second):
			t.Fatalf("%q did not end within 10s of the event it waits for", args)
			return cmdtest.Result{}
		}
	}
}

func TestWait_ForReady(t *testing.T) {
	t.Run("a ready session: at once, status and generation", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		seq := head(t, h)
		r := h.Run(t, NewCmdWait, "", "wait", "@s")
		if r.Code != 0 || r.Out != "@s: ready (generation 1)\n" {
			t.Errorf("wait @s: exit %d, stdout %q, stderr %q; want 0, %q", r.Code, r.Out, r.ErrOut, "@s: ready (generation 1)\n")
		}
		if got := head(t, h); got != seq {
			t.Errorf("wait @s on a ready session moved the log from %d to %d, want nothing appended", seq, got)
		}
	})
	t.Run("a starting session: until its bridge is ready", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		h.Created(t, "s")
		superviseOnWait(t, h, "s", sock)
		r := h.Run(t, NewCmdWait, "", "wait", "@s", "--for", "ready", "--json")
		var got struct {
			Session, For string
			State        struct {
				Status     string
				Generation uint64
				Bridge     *struct{ Socket string }
			}
			Event *events.Event
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
			t.Fatalf("wait @s --json: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
		}
		if got.Session != "s" || got.For != "ready" || got.State.Status != "ready" || got.State.Generation != 1 ||
			got.State.Bridge == nil || got.State.Bridge.Socket != sock || got.Event != nil {
			t.Errorf("wait @s --json = %s, want session s, for ready, state ready at generation 1 on %s, no event", r.Out, sock)
		}
	})
	t.Run("a crashed session: one implicit restart, then ready", func(t *testing.T) {
		h := cmdtest.New(t)
		sock := fakeBridge(t, mcpServer)
		openSession(t, h, "s", sock)
		lost := event(events.KindServerLost, "s", 1)
		lost.Error = "exit status 1"
		h.Append(t, lost)
		superviseOnWait(t, h, "s", sock)
		seq := head(t, h)
		r := h.Run(t, NewCmdWait, "", "wait", "@s")
		if r.Code != 0 || r.Out != "@s: ready (generation 2)\n" {
			t.Errorf("wait @s after a crash: exit %d, stdout %q, stderr %q; want 0, %q", r.Code, r.Out, r.ErrOut, "@s: ready (generation 2)\n")
		}
		got := appendedSince(t, h, "s", seq)
		if len(got) == 0 || got[0].Type != events.KindRestartRequested || got[0].Reason != "implicit: wait found the session crashed" {
			t.Errorf("wait @s after a crash appended %+v, want first restart_requested, implicit: wait found the session crashed", got)
		}
		if n := restartsIn(got); n != 1 {
			t.Errorf("wait @s after a crash appended %d restart_requested, want 1", n)
		}
	})
	t.Run("a crashed session whose policy is never: exit 3, nothing appended", func(t *testing.T) {
		h := cmdtest.New(t)
		c := event(events.KindCreated, "s", 1)
		c.Server = &events.Server{Transport: events.TransportStdio, Command: "mcptestserver"}
		c.Restart = events.RestartNever
		h.Append(t, c)
		bringUp(t, h, "s", 1, "/nonexistent/b.sock")
		lost := event(events.KindServerLost, "s", 1)
		lost.Error = "exit status 1"
		h.Append(t, lost)
		seq := head(t, h)
		r := h.Run(t, NewCmdWait, "", "wait", "@s")
		if r.Code != 3 || !strings.Contains(r.ErrOut, "@s crashed (exit status 1) and its restart policy is never") || !strings.Contains(r.ErrOut, "Try: mcpctl restart @s") {
			t.Errorf("wait @s, crashed with restart never: exit %d, stderr %q; want 3, the policy, a restart hint", r.Code, r.ErrOut)
		}
		if got := head(t, h); got != seq {
			t.Errorf("wait @s, crashed with restart never, moved the log from %d to %d; want nothing appended", seq, got)
		}
	})
	t.Run("nobody brings it up before --timeout: exit 3", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		r := h.Run(t, NewCmdWait, "", "wait", "@s", "--timeout", "200ms")
		if r.Code != 3 || !strings.Contains(r.ErrOut, "timed out after 200ms (--timeout)") {
			t.Errorf("wait @s --timeout 200ms: exit %d, stderr %q; want 3, timed out", r.Code, r.ErrOut)
		}
	})
	t.Run("a session that never started: exit 3, with the error", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		sf := events.New(events.KindSpawnFailed, cmdtest.Node, "s", 1)
		sf.Error = "exec: mcptestserver: not found"
		h.Append(t, sf)
		r := h.Run(t, NewCmdWait, "", "wait", "@s")
		if r.Code != 3 || !strings.Contains(r.ErrOut, "the server did not start: exec: mcptestserver: not found") {
			t.Errorf("wait @s after spawn_failed: exit %d, stderr %q; want 3, did not start", r.Code, r.ErrOut)
		}
	})
	t.Run("credentials refused: exit 4", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		u := event(events.KindUnauthorized, "s", 1)
		u.Error = "HTTP 401"
		h.Append(t, u)
		r := h.Run(t, NewCmdWait, "", "wait", "@s")
		if r.Code != 4 || !strings.Contains(r.ErrOut, "refused the credentials: HTTP 401") {
			t.Errorf("wait @s when unauthorized: exit %d, stderr %q; want 4", r.Code, r.ErrOut)
		}
	})
	t.Run("a closed session: exit 1", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		h.Append(t, events.New(events.KindClosed, cmdtest.Node, "s", 1))
		r := h.Run(t, NewCmdWait, "", "wait", "@s")
		if r.Code != 1 || !strings.Contains(r.ErrOut, "wait @s: session closed") {
			t.Errorf("wait @s when closed: exit %d, stderr %q; want 1, session closed", r.Code, r.ErrOut)
		}
	})
}

func TestWait_ForAnEvent(t *testing.T) {
	t.Run("an event kind: the first one after it started", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		wait := runFollowing(t, h, "wait", "@s", "--for", "bridge_stopping")
		seq := h.Append(t, events.New(events.KindBridgeStopping, cmdtest.Node, "s", 1))
		r := wait()
		want := fmt.Sprintf("@s: bridge_stopping (seq %d, generation 1)\n", seq)
		if r.Code != 0 || r.Out != want {
			t.Errorf("wait @s --for bridge_stopping: exit %d, stdout %q, stderr %q; want 0, %q", r.Code, r.Out, r.ErrOut, want)
		}
	})
	t.Run("exited: the bridge's exit, with --json", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		wait := runFollowing(t, h, "wait", "@s", "--for", "exited", "--json")
		seq := h.Append(t, events.New(events.KindBridgeExited, cmdtest.Node, "s", 1))
		r := wait()
		var got struct {
			For   string
			State struct{ Status string }
			Event *events.Event
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Out), &got) != nil {
			t.Fatalf("wait @s --for exited --json: exit %d, stdout %q, stderr %q", r.Code, r.Out, r.ErrOut)
		}
		if got.For != "exited" || got.Event == nil || got.Event.Type != events.KindBridgeExited || got.Event.Seq != seq || got.State.Status != "crashed" {
			t.Errorf("wait @s --for exited --json = %s, want the bridge_exited at seq %d and the state after it (crashed)", r.Out, seq)
		}
	})
	t.Run("exited, the bridge already gone: at once", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		h.Append(t, event(events.KindBridgeExited, "s", 1))
		r := h.Run(t, NewCmdWait, "", "wait", "@s", "--for", "exited")
		if r.Code != 0 || r.Out != "@s: crashed (generation 1)\n" {
			t.Errorf("wait @s --for exited with no bridge: exit %d, stdout %q, stderr %q; want 0, %q", r.Code, r.Out, r.ErrOut, "@s: crashed (generation 1)\n")
		}
	})
	t.Run("nothing comes before --timeout: exit 3, what it waited for", func(t *testing.T) {
		h := cmdtest.New(t)
		openSession(t, h, "s", fakeBridge(t, mcpServer))
		r := h.Run(t, NewCmdWait, "", "wait", "@s", "--for", "bridge_stopping", "--timeout", "200ms")
		if r.Code != 3 || !strings.Contains(r.ErrOut, "waiting for bridge_stopping on @s: timed out after 200ms (--timeout)") {
			t.Errorf("wait @s --for bridge_stopping --timeout 200ms: exit %d, stderr %q; want 3, timed out waiting for bridge_stopping", r.Code, r.ErrOut)
		}
	})
}

func TestWait_Refuses(t *testing.T) {
	t.Run("an unknown --for: exit 1, with the choices", func(t *testing.T) {
		h := cmdtest.New(t)
		h.Created(t, "s")
		r := h.Run(t, NewCmdWait, "", "wait", "@s", "--for", "nonsense")
		if r.Code != 1 || !strings.Contains(r.ErrOut, `--for "nonsense": not ready, exited, nor an event kind`) || !strings.Contains(r.ErrOut, "bridge_ready") {
			t.Errorf("wait @s --for nonsense: exit %d, stderr %q; want 1 and the kinds", r.Code, r.ErrOut)
		}
	})
	t.Run("an unknown session: exit 1, not found", func(t *testing.T) {
		h := cmdtest.New(t)
		for _, what := range []string{"ready", "exited", "closed"} {
			r := h.Run(t, NewCmdWait, "", "wait", "@nosuch", "--for", what)
			if r.Code != 1 || !strings.Contains(r.ErrOut, "@nosuch: not found") {
				t.Errorf("wait @nosuch --for %s: exit %d, stderr %q; want 1, not found", what, r.Code, r.ErrOut)
			}
		}
	})
}
