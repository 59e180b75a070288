package e2e

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// TestTimeout_CancelsTheCallWithoutRestartOrResend: a client-side timeout reports exit 3,
// the tool ran exactly once, the bridge is the same process and the next call works.
func TestTimeout_CancelsTheCallWithoutRestartOrResend(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	calls := e.connectTest(name)
	before, _ := e.session(name)

	start := time.Now()
	r := e.run("--timeout", "1s", "@"+name, "tools-call", "sleep", "ms:=3000")
	if r.Code != 3 || !strings.Contains(r.Stderr, "timed out") || !strings.Contains(r.Stderr, "not re-sent") {
		t.Fatalf("want exit 3 with a timeout message that says it was not re-sent:\n%s", r)
	}
	if d := time.Since(start); d > 2500*time.Millisecond {
		t.Errorf("--timeout 1s returned after %s", d)
	}
	if r.Stdout != "" {
		t.Errorf("a timed-out call printed on stdout: %q", r.Stdout)
	}
	if r := e.ok("@"+name, "tools-call", "echo", "text:=next"); strings.TrimSpace(r.Stdout) != "next" {
		t.Fatalf("the call after the timeout:\n%s", r)
	}
	if n := countCalls(t, calls, "sleep"); n != 1 {
		t.Fatalf("the sleep tool ran %d times, want exactly 1", n)
	}
	after, _ := e.session(name)
	if after.Generation != before.Generation || after.Bridge.PID != before.Bridge.PID || after.Status != projector.StatusReady {
		t.Fatalf("after the timeout: generation %d pid %d %s, want unchanged %d %d ready", after.Generation, after.Bridge.PID, after.Status,
			before.Generation, before.Bridge.PID)
	}
	evs := e.sessionEvents(name)
	for _, k := range []events.Kind{events.KindRestartRequested, events.KindBridgeExited, events.KindServerLost, events.KindBridgeStopping} {
		if n := countKind(evs, k); n != 0 {
			t.Fatalf("a timeout produced %d %s events: %v", n, k, kindsOf(evs))
		}
	}
	if pids := bridgePIDs(e.home, name); !slices.Equal(pids, []int{before.Bridge.PID}) {
		t.Fatalf("live bridges %v, want the same one %d", pids, before.Bridge.PID)
	}
}

// serverOf returns the stdio server process the bridge started.
func serverOf(t *testing.T, bridgePID int) int {
	t.Helper()
	var pid int
	testwait.For(t, 5*time.Second, func() error {
		kids := childrenOf(bridgePID)
		if len(kids) != 1 {
			return fmt.Errorf("children of bridge %d: %v, want its one server", bridgePID, kids)
		}
		pid = kids[0]
		return nil
	})
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(b), serverBin) {
		t.Fatalf("child %d of the bridge is %q, not the test server", pid, b)
	}
	return pid
}

// TestServerLost_NoticedAndRecovered kills the stdio server under a bridge (and, in another
// case, makes it exit through the crash tool): the loss is recorded, the bridge exits, and
// with the default on-failure policy the next call works on a new generation. With
// --restart never the next call fails with exit 3 and a hint to restart.
func TestServerLost_NoticedAndRecovered(t *testing.T) {
	t.Parallel()
	kill := func(t *testing.T, e *env, name string, s projector.Session) {
		if err := syscall.Kill(serverOf(t, s.Bridge.PID), syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
	}
	crash := func(t *testing.T, e *env, name string, s projector.Session) {
		r := e.run("@"+name, "tools-call", "crash", "code:=7")
		if r.Code != 3 {
			t.Fatalf("the call that crashed the server: want exit 3\n%s", r)
		}
	}
	for _, tc := range []struct {
		name string
		lose func(t *testing.T, e *env, name string, s projector.Session)
	}{{"kill-9", kill}, {"crash-tool", crash}} {
		// Homes of their own: a crashed session is what `clean` forgets, and other tests run
		// clean on the shared home.
		t.Run(tc.name+"/on-failure", func(t *testing.T) {
			t.Parallel()
			e := isolated(t)
			name := uniqueName(t)
			e.connectTest(name)
			s, _ := e.session(name)
			tc.lose(t, e, name, s)
			testwait.For(t, 5*time.Second, func() error {
				evs := e.sessionEvents(name)
				if countKind(evs, events.KindServerLost) == 0 || countKind(evs, events.KindBridgeExited) == 0 {
					return fmt.Errorf("no server_lost and bridge_exited yet: %v", kindsOf(evs))
				}
				return nil
			})
			if r := e.ok("@"+name, "tools-call", "add", "a:=20", "b:=22"); strings.TrimSpace(r.Stdout) != "42" {
				t.Fatalf("call after the loss:\n%s", r)
			}
			evs := e.sessionEvents(name)
			assertOrder(t, evs, step{events.KindBridgeReady, s.Generation}, step{events.KindServerLost, s.Generation},
				step{events.KindRestartRequested, s.Generation + 1}, step{events.KindBridgeReady, s.Generation + 1})
			assertOrder(t, evs, step{events.KindServerLost, s.Generation}, step{events.KindBridgeExited, s.Generation})
			for _, ev := range evs {
				if ev.Type == events.KindBridgeExited && ev.Generation == s.Generation && (ev.Code == nil || *ev.Code == 0) {
					t.Fatalf("bridge of a lost server exited with code %v signal %q, want a failure code", ev.Code, ev.Signal)
				}
			}
			if n := countKind(evs, events.KindRestartRequested); n != 1 {
				t.Fatalf("%d restart requests, want 1: %v", n, kindsOf(evs))
			}
			after, _ := e.session(name)
			if pids := bridgePIDs(e.home, name); !slices.Equal(pids, []int{after.Bridge.PID}) || after.Bridge.PID == s.Bridge.PID {
				t.Fatalf("live bridges %v, want only the new %d (old %d)", pids, after.Bridge.PID, s.Bridge.PID)
			}
		})
		t.Run(tc.name+"/never", func(t *testing.T) {
			t.Parallel()
			e := isolated(t)
			name := uniqueName(t)
			e.connectTest(name, "--restart", "never")
			s, _ := e.session(name)
			tc.lose(t, e, name, s)
			testwait.For(t, 5*time.Second, func() error {
				if cur, _ := e.session(name); cur.Status != projector.StatusCrashed || cur.Bridge != nil {
					return fmt.Errorf("status %s, bridge %+v; want crashed without a bridge", cur.Status, cur.Bridge)
				}
				return nil
			})
			r := e.run("@"+name, "tools-call", "add", "a:=1", "b:=1")
			if r.Code != 3 || !strings.Contains(r.Stderr, "never") || !strings.Contains(r.Stderr, "Try: mcpctl restart @"+name) {
				t.Fatalf("call on a crashed session with --restart never: want exit 3 and a restart hint\n%s", r)
			}
			if n := countKind(e.sessionEvents(name), events.KindRestartRequested); n != 0 {
				t.Fatalf("--restart never: %d restart requests", n)
			}
			if pids := bridgePIDs(e.home, name); len(pids) != 0 {
				t.Fatalf("--restart never: live bridges %v after the crash", pids)
			}
			// The hint works.
			e.ok("restart", "@"+name)
			if r := e.ok("@"+name, "tools-call", "add", "a:=1", "b:=1"); strings.TrimSpace(r.Stdout) != "2" {
				t.Fatalf("call after an explicit restart:\n%s", r)
			}
		})
	}
}

// hubPID reads the running hub's pid from `hub status --json`.
func hubPID(t *testing.T, e *env) int {
	t.Helper()
	var st struct {
		PID int `json:"pid"`
	}
	e.jsonOK(&st, "hub", "status")
	if st.PID == 0 {
		t.Fatalf("hub status has no pid")
	}
	return st.PID
}

// TestHubKilled_BridgesKeepServingAndAreAdopted kills the hub with SIGKILL while two
// bridges run: they keep running, the next command starts a new hub which adopts them
// (same generation, same pids, no restart), and a bridge killed later is still recorded.
func TestHubKilled_BridgesKeepServingAndAreAdopted(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	a, b := "a", "b"
	e.connectTest(a)
	e.connectTest(b)
	sa, _ := e.session(a)
	sb, _ := e.session(b)
	oldHub := hubPID(t, e)
	if err := syscall.Kill(oldHub, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if procAlive(oldHub) {
			return fmt.Errorf("hub %d still running", oldHub)
		}
		return nil
	})
	if !procAlive(sa.Bridge.PID) || !procAlive(sb.Bridge.PID) {
		t.Fatalf("bridges died with the hub: %d %v, %d %v", sa.Bridge.PID, procAlive(sa.Bridge.PID), sb.Bridge.PID, procAlive(sb.Bridge.PID))
	}

	// The CLI needs the hub to read the session: this call starts a new one.
	if r := e.ok("@"+a, "tools-call", "add", "a:=2", "b:=3"); strings.TrimSpace(r.Stdout) != "5" {
		t.Fatalf("call after the hub was killed:\n%s", r)
	}
	if newHub := hubPID(t, e); newHub == oldHub {
		t.Fatalf("hub pid unchanged (%d)", newHub)
	}
	for _, s := range []projector.Session{sa, sb} {
		cur, _ := e.session(s.Name)
		if cur.Generation != s.Generation || cur.Bridge == nil || cur.Bridge.PID != s.Bridge.PID || cur.Status != projector.StatusReady {
			t.Fatalf("@%s after the new hub: generation %d bridge %+v %s, want the adopted %d pid %d ready", s.Name, cur.Generation, cur.Bridge,
				cur.Status, s.Generation, s.Bridge.PID)
		}
		evs := e.sessionEvents(s.Name)
		if n := countKind(evs, events.KindRestartRequested) + countKind(evs, events.KindBridgeExited); n != 0 {
			t.Fatalf("@%s: the new hub restarted or buried a live bridge: %v", s.Name, kindsOf(evs))
		}
	}
	if r := e.ok("@"+b, "ping"); strings.TrimSpace(r.Stdout) != "pong" {
		t.Fatalf("ping @b:\n%s", r)
	}

	// A later exit of an adopted bridge is still noticed and recorded.
	if err := syscall.Kill(sb.Bridge.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		for _, ev := range e.sessionEvents(b, events.KindBridgeExited) {
			if ev.PID == sb.Bridge.PID && ev.Generation == sb.Generation {
				return nil
			}
		}
		return fmt.Errorf("no bridge_exited for the adopted bridge %d", sb.Bridge.PID)
	})
	// And the on-failure policy brings it back.
	if r := e.ok("@"+b, "tools-call", "echo", "text:=back"); strings.TrimSpace(r.Stdout) != "back" {
		t.Fatalf("call after the adopted bridge died:\n%s", r)
	}
	if cur, _ := e.session(b); cur.Generation != sb.Generation+1 {
		t.Fatalf("@b at generation %d after its bridge died, want %d", cur.Generation, sb.Generation+1)
	}
}

// TestDeadPID_ZombieOrGoneIsNeverAlive: the recorded bridge pid of a session stops being
// its bridge while no hub watches (the hub is killed first, then the bridge). On this kind
// of machine an orphan is reparented to an init that may never reap it, so the pid stays a
// zombie: kill(pid, 0) still succeeds on it. mcpctl must take it as dead: the next call
// restarts the session, the new hub records the old bridge as exited, and clean removes
// the dead bridge's socket. A real PID reuse (another program on the recorded pid, with
// another start time) cannot be arranged here while the zombie holds the pid; the unit
// tests of bridge/proc cover the start-time comparison.
func TestDeadPID_ZombieOrGoneIsNeverAlive(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := "z"
	e.connectTest(name)
	s, _ := e.session(name)
	hub := hubPID(t, e)
	if err := syscall.Kill(hub, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if procAlive(hub) {
			return fmt.Errorf("hub %d still running", hub)
		}
		return nil
	})
	if err := syscall.Kill(s.Bridge.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if procAlive(s.Bridge.PID) {
			return fmt.Errorf("bridge %d still running", s.Bridge.PID)
		}
		return nil
	})
	zombie := procState(s.Bridge.PID) == 'Z'
	t.Logf("the killed bridge %d is %s", s.Bridge.PID, map[bool]string{true: "a zombie (kill(pid, 0) succeeds on it)", false: "gone"}[zombie])
	if zombie {
		if err := syscall.Kill(s.Bridge.PID, 0); err != nil {
			t.Fatalf("kill(zombie, 0): %v; the premise of this case is wrong", err)
		}
	}

	r := e.ok("@"+name, "tools-call", "add", "a:=1", "b:=2")
	if strings.TrimSpace(r.Stdout) != "3" {
		t.Fatalf("call with a dead recorded bridge:\n%s", r)
	}
	cur, _ := e.session(name)
	if cur.Generation != s.Generation+1 || cur.Bridge == nil || cur.Bridge.PID == s.Bridge.PID {
		t.Fatalf("after the call: generation %d bridge %+v, want a new generation %d with a new bridge", cur.Generation, cur.Bridge, s.Generation+1)
	}
	evs := e.sessionEvents(name)
	var exited bool
	for _, ev := range evs {
		if ev.Type == events.KindBridgeExited && ev.PID == s.Bridge.PID {
			exited = true
		}
	}
	if !exited {
		t.Fatalf("no bridge_exited for the dead bridge %d: %v", s.Bridge.PID, kindsOf(evs))
	}
	if n := countKind(evs, events.KindRestartRequested); n != 1 {
		t.Fatalf("%d restart requests, want 1: %v", n, kindsOf(evs))
	}
	// The dead bridge never removed its socket; clean does, and keeps the live one.
	e.ok("clean")
	if got := sockets(e.home, name); !slices.Equal(got, []string{cur.Bridge.Socket}) {
		t.Fatalf("sockets after clean: %v, want only %s", got, cur.Bridge.Socket)
	}
	if zombie && procState(s.Bridge.PID) != 'Z' {
		t.Logf("the zombie %d was reaped meanwhile", s.Bridge.PID)
	}
}
