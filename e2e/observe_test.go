package e2e

// Automation and debugging: the public subscriber package against the real CLI, server
// notifications as events, history ("why did this session restart?"), sessions --at and
// wait.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/subscribe"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// obsEventLines returns the lines `mcpctl events --json` prints.
func obsEventLines(e *env, args ...string) []string {
	e.t.Helper()
	r := e.ok(append([]string{"events", "--json"}, args...)...)
	var out []string
	for _, l := range strings.Split(r.Stdout, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// obsLines is a subscriber's output: each event marshalled as `mcpctl events --json` does.
type obsLines struct {
	mu    sync.Mutex
	lines []string
	seqs  []uint64
}

func (l *obsLines) handle(_ context.Context, ev events.Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, string(b))
	l.seqs = append(l.seqs, ev.Seq)
	return nil
}

func (l *obsLines) snapshot() ([]string, []uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...), append([]uint64(nil), l.seqs...)
}

func obsSeqOf(t testing.TB, line string) uint64 {
	var v struct{ Seq uint64 }
	if err := json.Unmarshal([]byte(line), &v); err != nil {
		t.Fatalf("line %q: %v", line, err)
	}
	return v.Seq
}

// TestSubscribe_SeesEveryEventOfARestartStormAsEventsJSONPrintsItAndResumesWithoutGaps is
// the acceptance test of events/subscribe: one subscriber runs through a restart storm
// (parallel restarts, crashes restarted by policy), a second is stopped in the middle and
// resumed from its checkpoint; both end with exactly the lines of `mcpctl events --json`.
func TestSubscribe_SeesEveryEventOfARestartStormAsEventsJSONPrintsItAndResumesWithoutGaps(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.connectTest("storm")
	e.connectTest("calm")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := subscribe.Connect(ctx, subscribe.Config{Home: e.home, Node: e.node})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var whole, resumed obsLines
	wholeDone := make(chan error, 1)
	go func() { wholeDone <- c.Subscribe(ctx, subscribe.Subscription{}, whole.handle) }()

	cp := &subscribe.FileCheckpoint{Path: filepath.Join(t.TempDir(), "checkpoint")}
	firstCtx, stopFirst := context.WithCancel(ctx)
	firstDone := make(chan error, 1)
	go func() { firstDone <- c.Subscribe(firstCtx, subscribe.Subscription{Checkpoint: cp}, resumed.handle) }()

	storm := func(rounds int) {
		for i := range rounds {
			runMany(e, 4, func(int) []string { return []string{"restart", "@storm"} })
			if i%2 == 1 {
				e.run("@storm", "tools-call", "crash", "code:=5") // restarted by policy
				e.ok("@storm", "wait", "--for", "ready")
			}
		}
	}
	storm(3)
	// "Kill" the resumable subscriber in the middle of the storm, keep storming, resume.
	stopFirst()
	<-firstDone
	storm(3)
	e.ok("restart", "@calm")
	resumeCtx, stopResumed := context.WithCancel(ctx)
	defer stopResumed()
	resumedDone := make(chan error, 1)
	go func() { resumedDone <- c.Subscribe(resumeCtx, subscribe.Subscription{Checkpoint: cp}, resumed.handle) }()

	want := obsEventLines(e)
	head := obsSeqOf(t, want[len(want)-1])
	for _, sub := range []*obsLines{&whole, &resumed} {
		testwait.For(t, 15*time.Second, func() error {
			if _, s := sub.snapshot(); len(s) == 0 || s[len(s)-1] < head {
				return fmt.Errorf("subscriber at %v, log head %d", s, head)
			}
			return nil
		})
	}
	for name, sub := range map[string]*obsLines{"subscriber": &whole, "stopped and resumed subscriber": &resumed} {
		got, _ := sub.snapshot()
		if len(got) != len(want) {
			t.Errorf("%s received %d events, events --json printed %d", name, len(got), len(want))
		}
		for i := range min(len(got), len(want)) {
			if got[i] != want[i] {
				t.Fatalf("%s line %d:\n got  %s\n want %s", name, i, got[i], want[i])
			}
		}
	}
	if n := strings.Count(strings.Join(want, "\n"), `"type":"restart_requested"`); n < 8 {
		t.Fatalf("the storm made only %d restart requests", n)
	}
	cancel()
	<-wholeDone
	<-resumedDone
}

func TestEvents_NotificationsOfTheTestServerAppearAsEvents(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	if serverProtocol == protocolModern {
		// 2026-07-28: a server sends log notifications only at the level a request asks
		// for in _meta (logLevel), none without one; the bridge asks once set.
		e.ok("@"+name, "logging-set-level", "info")
	}

	fl := obsStart(t, e, "@"+name, "events", "-f", "--json", "--type", "notification")
	if r := e.ok("@"+name, "tools-call", "notify", "n:=2"); strings.TrimSpace(r.Stdout) != "sent 2" {
		t.Fatalf("notify printed %q", r.Stdout)
	}
	type line struct {
		Stream, Type, Session, Method string
		Seq                           uint64
		Time                          time.Time
		Params                        struct{ Data string }
	}
	var live []line
	testwait.For(t, 10*time.Second, func() error {
		live = nil
		for _, l := range fl.lines() {
			var v line
			if err := json.Unmarshal([]byte(l), &v); err != nil {
				return fmt.Errorf("line %q: %v", l, err)
			}
			live = append(live, v)
		}
		if len(live) < 4 {
			return fmt.Errorf("%d notifications followed, want 4", len(live))
		}
		return nil
	})
	if l := live[0]; l.Stream != "notifications" || l.Type != "notification" || l.Session != name ||
		l.Method != "notifications/message" || l.Params.Data != "notify 1/2" {
		t.Fatalf("first followed notification = %+v", l)
	}

	// The stored view: lifecycle events and notifications merged in time order.
	r := e.ok("@"+name, "events", "--json")
	var merged []line
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var v line
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		merged = append(merged, v)
	}
	var kinds []string
	var messages []string
	for i, m := range merged {
		kinds = append(kinds, m.Stream+":"+m.Type)
		if i > 0 && m.Time.Before(merged[i-1].Time) && m.Stream != merged[i-1].Stream {
			t.Errorf("line %d (%s at %s) is before line %d (%s at %s)", i, m.Type, m.Time, i-1, merged[i-1].Type, merged[i-1].Time)
		}
		if m.Method == "notifications/message" {
			messages = append(messages, m.Params.Data)
		}
	}
	if len(merged) < 7 || merged[0].Type != "created" || merged[0].Stream != "events" {
		t.Fatalf("@%s events = %v, want created first, then bridge events and 4 notifications", name, kinds)
	}
	if fmt.Sprint(messages) != "[notify 1/2 notify 2/2]" {
		t.Fatalf("notification messages = %v", messages)
	}
	// The human form names the method.
	if r := e.ok("@"+name, "events"); !strings.Contains(r.Stdout, "notification") || !strings.Contains(r.Stdout, "notifications/tools/list_changed") {
		t.Fatalf("human @%s events:\n%s", name, r.Stdout)
	}
}

// obsFollower is a background mcpctl whose stdout lines are collected.
type obsFollower struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (f *obsFollower) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buf.Write(p)
}

func (f *obsFollower) lines() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := strings.TrimSpace(f.buf.String())
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func obsStart(t *testing.T, e *env, args ...string) *obsFollower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := e.cmd(ctx, args...)
	fl := &obsFollower{}
	cmd.Stdout = fl
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	return fl
}

// history runs `mcpctl @s history --json`.
type obsHistory struct {
	Session     string
	State       projector.Session
	Generations []struct {
		Generation  uint64
		Trigger     string
		RequestKind string       `json:"request_kind"`
		RequestedBy events.Actor `json:"requested_by"`
		Reason      string
		PID         int
		ReadyAt     time.Time `json:"ready_at"`
		TimeToReady int64     `json:"time_to_ready_ns"`
		Problems    []string
		Stopping    string
		ExitCode    *int   `json:"exit_code"`
		Signal      string `json:"signal"`
		EndedBy     string `json:"ended_by"`
		Lifetime    int64  `json:"lifetime_ns"`
		Current     bool
	}
}

func obsHistoryOf(e *env, name string) obsHistory {
	e.t.Helper()
	var h obsHistory
	e.jsonOK(&h, "@"+name, "history")
	return h
}

// waitGeneration waits until the session's generation g is ready and returns its history.
func waitGeneration(t *testing.T, e *env, name string, g int) obsHistory {
	t.Helper()
	var h obsHistory
	testwait.For(t, 20*time.Second, func() error {
		h = obsHistoryOf(e, name)
		if len(h.Generations) < g || h.Generations[g-1].ReadyAt.IsZero() {
			return fmt.Errorf("@%s has %d generations (status %s), want generation %d ready", name, len(h.Generations), h.State.Status, g)
		}
		return nil
	})
	return h
}

func TestHistory_ExplicitRestartNamesWhoAskedAndHowThePreviousBridgeEnded(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	e.ok("restart", "@"+name)
	h := waitGeneration(t, e, name, 2)
	g1, g2 := h.Generations[0], h.Generations[1]
	if g1.Trigger != "connect" || g1.RequestKind != "created" || !strings.Contains(g1.RequestedBy.Command, "connect") {
		t.Errorf("generation 1 = %+v, want requested by connect", g1)
	}
	if g2.Trigger != "explicit" || !strings.Contains(g2.RequestedBy.Command, "restart") || g2.RequestedBy.PID == 0 || g2.RequestedBy.User == "" {
		t.Errorf("generation 2 = %+v, want an explicit restart by `mcpctl restart` with pid and user", g2)
	}
	if g1.EndedBy != "restart_requested" || g1.Stopping == "" || g1.TimeToReady <= 0 || g2.TimeToReady <= 0 || !g2.Current {
		t.Errorf("generation 1 = %+v, generation 2 = %+v", g1, g2)
	}
	testwait.For(t, 10*time.Second, func() error { // the superseded bridge's exit is recorded
		g1 = obsHistoryOf(e, name).Generations[0]
		if g1.ExitCode == nil || *g1.ExitCode != 0 || g1.Lifetime <= 0 {
			return fmt.Errorf("generation 1 ended: code %v lifetime %d", g1.ExitCode, g1.Lifetime)
		}
		return nil
	})
	r := e.ok("@"+name, "history")
	for _, want := range []string{"generation 2", "(explicit", "mcpctl restart", "bridge exited with code 0", "ready after"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("history lacks %q:\n%s", want, r.Stdout)
		}
	}
}

func TestHistory_PolicyRestartAfterTheServerCrashed(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name, "--restart", "on-failure")
	e.run("@"+name, "tools-call", "crash", "code:=7")
	// No command touches the session now: only the supervisor's policy can restart it.
	h := waitGeneration(t, e, name, 2)
	g1, g2 := h.Generations[0], h.Generations[1]
	if g2.Trigger != "policy" || !strings.Contains(g2.RequestedBy.Command, "hub") || !strings.Contains(g2.Reason, "on-failure") {
		t.Errorf("generation 2 = %+v, want a policy restart by the hub", g2)
	}
	// The server exited 7; its bridge then exits with a code of its own.
	if g1.ExitCode == nil || *g1.ExitCode == 0 || len(g1.Problems) == 0 ||
		!strings.Contains(g1.Problems[0], "server_lost") || !strings.Contains(g1.Problems[0], "exit status 7") {
		t.Errorf("generation 1 ended %+v, want server_lost (exit status 7) and a failed bridge exit", g1)
	}
	if r := e.ok("@"+name, "history"); !strings.Contains(r.Stdout, "(policy") || !strings.Contains(r.Stdout, "exit status 7") ||
		!strings.Contains(r.Stdout, "bridge exited with code") {
		t.Errorf("history:\n%s", r.Stdout)
	}
}

func TestHistory_RestartAfterTheBridgeWasKilled(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	s, _ := e.session(name)
	if s.Bridge == nil {
		t.Fatalf("@%s has no bridge: %+v", name, s)
	}
	if err := syscall.Kill(s.Bridge.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// kill returns before the process is gone; a call that reached the dying bridge would
	// (rightly) not be re-sent.
	testwait.For(t, 5*time.Second, func() error {
		if procAlive(s.Bridge.PID) {
			return fmt.Errorf("bridge %d still running", s.Bridge.PID)
		}
		return nil
	})
	// The call finds the bridge dead and restarts the session itself, unless the
	// supervisor's policy (after its 100 ms backoff) got there first: history must say which.
	if r := e.ok("@"+name, "tools-call", "echo", "text:=hi"); strings.TrimSpace(r.Stdout) != "hi" {
		t.Fatalf("echo after kill: %s", r)
	}
	h := waitGeneration(t, e, name, 2)
	g1, g2 := h.Generations[0], h.Generations[1]
	switch g2.Trigger {
	case "implicit":
		if !strings.Contains(g2.RequestedBy.Command, "tools-call") || !strings.HasPrefix(g2.Reason, "implicit: tools/call") {
			t.Errorf("implicit generation 2 = %+v, want requested by the tools-call", g2)
		}
	case "policy":
		if !strings.Contains(g2.RequestedBy.Command, "hub") {
			t.Errorf("policy generation 2 = %+v, want requested by the hub", g2)
		}
	default:
		t.Errorf("generation 2 trigger %q, want implicit or policy (%+v)", g2.Trigger, g2)
	}
	testwait.For(t, 10*time.Second, func() error {
		g1 = obsHistoryOf(e, name).Generations[0]
		if g1.Signal != "killed" {
			return fmt.Errorf("generation 1 ended with signal %q code %v, want killed", g1.Signal, g1.ExitCode)
		}
		return nil
	})
	t.Logf("restart after kill -9 was %s: %s", g2.Trigger, g2.Reason)
}

func TestSessionsAt_ReproducesListingsRecordedDuringAScenario(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	type snap struct {
		seq  uint64
		at   time.Time
		list []projector.Session
	}
	var snaps []snap
	// record waits until the KV has caught up with the log, then keeps the listing with the
	// log's head sequence and the time.
	record := func() {
		t.Helper()
		testwait.For(t, 10*time.Second, func() error {
			var list []projector.Session
			e.jsonOK(&list, "sessions")
			lines := obsEventLines(e, "-n", "1")
			head := obsSeqOf(t, lines[0])
			var top uint64
			for _, s := range list {
				top = max(top, s.LastSeq)
			}
			if top != head {
				return fmt.Errorf("listing at seq %d, log head %d", top, head)
			}
			at := time.Now()
			if lines2 := obsEventLines(e, "-n", "1"); obsSeqOf(t, lines2[0]) != head {
				return fmt.Errorf("log moved on while recording")
			}
			snaps = append(snaps, snap{seq: head, at: at, list: list})
			return nil
		})
	}
	e.connectTest("a")
	record()
	e.connectTest("b")
	record()
	e.ok("restart", "@a")
	e.ok("@a", "wait", "--for", "ready")
	record()
	e.run("@b", "tools-call", "crash", "code:=2")
	waitGeneration(t, e, "b", 2)
	record()
	e.ok("close", "@a")
	record()

	for i, sn := range snaps {
		for _, at := range []string{strconv.FormatUint(sn.seq, 10), sn.at.Format(time.RFC3339Nano)} {
			var got []projector.Session
			e.jsonOK(&got, "sessions", "--at", at)
			if len(got) != len(sn.list) {
				t.Fatalf("snapshot %d: sessions --at %s lists %d sessions, the recorded listing %d", i, at, len(got), len(sn.list))
			}
			for j := range got {
				if d := projector.DiffSessions(got[j], sn.list[j]); len(d) > 0 {
					t.Errorf("snapshot %d (seq %d): sessions --at %s differs for @%s: %v", i, sn.seq, at, got[j].Name, d)
				}
			}
		}
	}
}

func TestWait_ForReadyExitedAndAnEventKind(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	// Policy never: the killed bridge below stays dead, so "exited" is final.
	e.connectTest(name, "--restart", "never")

	t.Run("ready returns at once for a ready session", func(t *testing.T) {
		var r struct {
			For   string
			State projector.Session
		}
		e.jsonOK(&r, "@"+name, "wait", "--for", "ready")
		if r.For != "ready" || r.State.Status != projector.StatusReady {
			t.Fatalf("wait --for ready = %+v", r)
		}
	})
	t.Run("a kind waits for the next event of that kind", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := e.cmd(ctx, "--json", "@"+name, "wait", "--for", "restart_requested")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		// wait may still be reading the session when a restart lands (it then waits for
		// the next one): restart until it returns, and check what it saw.
		testwait.For(t, 30*time.Second, func() error {
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("wait --for restart_requested: %v", err)
				}
				return nil
			default:
			}
			e.ok("restart", "@"+name)
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("wait --for restart_requested: %v", err)
				}
				return nil
			case <-time.After(time.Second):
				return fmt.Errorf("wait has not returned after a restart")
			}
		})
		var r struct {
			Event events.Event
		}
		if err := json.Unmarshal(out.Bytes(), &r); err != nil || r.Event.Type != events.KindRestartRequested {
			t.Fatalf("wait printed %s (%v)", out.String(), err)
		}
	})
	t.Run("exited returns when the bridge dies", func(t *testing.T) {
		s, _ := e.session(name)
		if s.Bridge == nil {
			t.Fatalf("no bridge: %+v", s)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := e.cmd(ctx, "--json", "@"+name, "wait", "--for", "exited")
		var out bytes.Buffer
		cmd.Stdout = &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, func() error { return obsHasHubConn(cmd.Process.Pid) })
		if err := syscall.Kill(s.Bridge.PID, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("wait --for exited: %v", err)
		}
		var r struct {
			Event *events.Event
			State projector.Session
		}
		if err := json.Unmarshal(out.Bytes(), &r); err != nil {
			t.Fatalf("wait --for exited printed %s: %v", out.String(), err)
		}
		// Either wait saw the exit happen, or (the kill landed before it read the session)
		// it found the bridge already gone.
		seen := r.Event != nil && r.Event.Type == events.KindBridgeExited && r.Event.PID == s.Bridge.PID
		found := r.Event == nil && r.State.Bridge == nil && r.State.LastExit != nil && r.State.LastExit.Generation == s.Generation
		if !seen && !found {
			t.Fatalf("wait --for exited printed %s, want the exit of bridge pid %d", out.String(), s.Bridge.PID)
		}
	})
	t.Run("a timeout exits 3", func(t *testing.T) {
		r := e.run("--timeout", "300ms", "@"+name, "wait", "--for", "cleaned")
		if r.Code != 3 {
			t.Fatalf("wait --for cleaned with --timeout: %s, want exit 3", r)
		}
	})
	t.Run("an unknown condition exits 1", func(t *testing.T) {
		if r := e.run("@"+name, "wait", "--for", "tuesday"); r.Code != 1 {
			t.Fatalf("wait --for tuesday: %s, want exit 1", r)
		}
	})
}

// obsHasHubConn reports whether process pid holds an established TCP connection: the CLI
// has dialed the hub (it then reads, and follows, the log).
func obsHasHubConn(pid int) error {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return err
	}
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if strings.HasPrefix(l, "socket:") {
			return nil
		}
	}
	return fmt.Errorf("pid %d has no socket open yet", pid)
}
