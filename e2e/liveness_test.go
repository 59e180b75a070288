package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// ---- stalls: a stopped process is slow, not dead

// sigPending reports whether sig is pending for pid, sent to the thread (SigPnd) or to the
// process (ShdPnd), from /proc/<pid>/status.
func sigPending(t *testing.T, pid int, sig syscall.Signal) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("read the status of pid %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "SigPnd" && k != "ShdPnd") {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		if err != nil {
			t.Fatalf("pid %d: %s %q: %v", pid, k, v, err)
		}
		if mask&(1<<(uint(sig)-1)) != 0 {
			return true
		}
	}
	return false
}

// stopProcess sends SIGSTOP to pid and waits until it is stopped; the cleanup resumes it, so
// that a failing test leaves nothing frozen behind.
func stopProcess(t *testing.T, pid int) {
	t.Helper()
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if st := procState(pid); st != 'T' {
			return fmt.Errorf("pid %d in state %q, want T (stopped)", pid, st)
		}
		return nil
	})
}

// resumeProcess sends SIGCONT to pid and waits until it is no longer stopped.
func resumeProcess(t *testing.T, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if st := procState(pid); st == 'T' || st == 0 {
			return fmt.Errorf("pid %d in state %q after SIGCONT", pid, st)
		}
		return nil
	})
}

// A hub stopped with SIGSTOP does not answer, but it is not dead: a command waits for it up
// to its own timeout and fails saying so, and it never signals or replaces the hub. After
// SIGCONT the same hub serves, with everything it had.
func TestHubStall_StoppedHubIsWaitedForNotReplaced(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := "s"
	e.connectTest(name)
	hub := theHub(t, e.home)
	before := e.events()

	stopProcess(t, hub.PID)
	start := time.Now()
	r := e.run("@"+name, "ping", "--timeout", "3s")
	took := time.Since(start)
	if r.Code != 3 {
		t.Errorf("ping with the hub stopped: exit %d, want 3:\n%s", r.Code, r)
	}
	for _, want := range []string{fmt.Sprintf("the hub (pid %d) is not answering", hub.PID), "stopped", "kill -CONT " + strconv.Itoa(hub.PID)} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("ping with the hub stopped: stderr does not say %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "replace") {
		t.Errorf("ping with the hub stopped talks of replacing it:\n%s", r)
	}
	if took < 2500*time.Millisecond || took > 8*time.Second {
		t.Errorf("ping --timeout 3s with the hub stopped returned after %s, want about 3s (it waits for the hub, then gives up)", took)
	}
	// Parallel commands each wait for the stopped hub and each say so (none queues behind
	// another's spawn lock and fails for that instead).
	for i, r := range runMany(e, 3, func(int) []string { return []string{"@" + name, "ping", "--timeout", "3s"} }) {
		if r.Code != 3 || !strings.Contains(r.Stderr, fmt.Sprintf("the hub (pid %d) is not answering", hub.PID)) {
			t.Errorf("parallel command %d with the hub stopped: want exit 3 saying the hub is not answering:\n%s", i, r)
		}
	}
	if st := procState(hub.PID); st != 'T' {
		t.Errorf("hub %d in state %q after the ping, want still T", hub.PID, st)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGINT} {
		if sigPending(t, hub.PID, sig) {
			t.Errorf("%s is pending for the stopped hub %d: the ping signalled it", sig, hub.PID)
		}
	}
	if pids := hubPIDs(e.home); !slices.Equal(pids, []int{hub.PID}) {
		t.Errorf("hub processes %v with the hub stopped, want only the stopped one %d", pids, hub.PID)
	}

	resumeProcess(t, hub.PID)
	if r := e.ok("@"+name, "ping"); strings.TrimSpace(r.Stdout) != "pong" {
		t.Fatalf("ping after SIGCONT:\n%s", r)
	}
	if again := theHub(t, e.home); again.PID != hub.PID || again.URL != hub.URL {
		t.Errorf("hub after SIGCONT = %+v, want the same %+v", again, hub)
	}
	after := e.events()
	for i, ev := range before {
		if i >= len(after) || after[i].Seq != ev.Seq || after[i].Type != ev.Type {
			t.Fatalf("events before the stall %v are not a prefix of the events after it %v", kindsOf(before), kindsOf(after))
		}
	}
	if s, _ := e.session(name); s.Status != projector.StatusReady || s.Crashes != 0 || s.Restarts != 0 {
		t.Errorf("@%s after the stall: %s, %d crashes, %d restarts; want ready, none", name, s.Status, s.Crashes, s.Restarts)
	}
}

// A bridge stopped with SIGSTOP: a call with --timeout fails cleanly (exit 3) and triggers no
// restart; after SIGCONT the same bridge serves.
func TestBridgeStall_StoppedBridgeTimesOutWithoutRestart(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := "b"
	calls := e.connectTest(name)
	before, _ := e.session(name)
	if before.Bridge == nil {
		t.Fatalf("@%s has no bridge after connect: %+v", name, before)
	}
	pid := before.Bridge.PID

	stopProcess(t, pid)
	r := e.run("@"+name, "tools-call", "echo", "text:=stalled", "--timeout", "2s")
	if r.Code != 3 || !strings.Contains(r.Stderr, "not re-sent") {
		t.Errorf("a call to the stopped bridge: want exit 3, cancelled and not re-sent:\n%s", r)
	}
	if r := e.run("@"+name, "ping", "--timeout", "2s"); r.Code != 3 {
		t.Errorf("ping of the stopped bridge: want exit 3:\n%s", r)
	}
	if st := procState(pid); st != 'T' {
		t.Errorf("bridge %d in state %q, want still stopped", pid, st)
	}
	if sigPending(t, pid, syscall.SIGTERM) || sigPending(t, pid, syscall.SIGKILL) {
		t.Errorf("a signal is pending for the stopped bridge %d", pid)
	}

	resumeProcess(t, pid)
	if r := e.ok("@"+name, "tools-call", "echo", "text:=back"); strings.TrimSpace(r.Stdout) != "back" {
		t.Fatalf("call after SIGCONT:\n%s", r)
	}
	after, _ := e.session(name)
	if after.Generation != before.Generation || after.Bridge == nil || after.Bridge.PID != pid || after.Status != projector.StatusReady {
		t.Errorf("after the stall: generation %d bridge %+v %s, want generation %d pid %d ready", after.Generation, after.Bridge,
			after.Status, before.Generation, pid)
	}
	evs := e.sessionEvents(name)
	for _, k := range []events.Kind{events.KindRestartRequested, events.KindBridgeExited, events.KindServerLost} {
		if n := countKind(evs, k); n != 0 {
			t.Errorf("the stall produced %d %s events: %v", n, k, kindsOf(evs))
		}
	}
	// The cancelled call never reached the server (the bridge was stopped before reading
	// it, and a cancelled request is not forwarded), or reached it once: never twice.
	if n := countCalls(t, calls, "echo"); n > 2 {
		t.Errorf("echo ran %d times, want at most 2 (the stalled call once at most, then the one after)", n)
	}
}

// ---- a hub killed while a bridge starts

// holdFile is a file whose existence holds something back in a shell wrapper; release
// removes it.
type holdFile string

func (h holdFile) arm(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(string(h), nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (h holdFile) release(t *testing.T) {
	t.Helper()
	if err := os.Remove(string(h)); err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}

// heldScript writes a shell script that waits while hold exists, then execs exe with its
// arguments. exec keeps the pid and the start time, so the bridge the hub recorded is the
// process that ends up running.
func heldScript(t *testing.T, dir, name string, hold holdFile, exe string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	script := fmt.Sprintf("#!/bin/sh\nwhile [ -e '%s' ]; do sleep 0.02; done\nexec '%s' \"$@\"\n", hold, exe)
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	return path
}

// A hub killed with SIGKILL between bridge_spawned and bridge_ready of a new session: the
// bridge is held (by a wrapper) before it reaches the hub, or its server is held while it
// starts. The bridge must wait for the next hub rather than give up, and the next command,
// which starts that hub, must find the session ready: no crash counted, no `restart` needed.
func TestHubKilledWhileBridgeStarts_TheNextCommandFindsTheSessionReady(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bridgeHold := holdFile(filepath.Join(dir, "bridge.hold"))
	serverHold := holdFile(filepath.Join(dir, "server.hold"))
	e := isolated(t)
	e.extra = append(e.extra, "MCPCTL_BRIDGE="+heldScript(t, dir, "bridge.sh", bridgeHold, filepath.Join(workDir, "mcpctld")))
	server := heldScript(t, dir, "server.sh", serverHold, serverBin)

	const rounds = 3
	for round := range rounds {
		for v, variant := range []struct {
			name       string
			hold       holdFile
			killBridge bool // the bridge dies too, as one that gave up waiting for a hub would
		}{
			{"before the bridge reaches the hub", bridgeHold, false},
			{"while the server starts", serverHold, false},
			{"and the held bridge dies too", bridgeHold, true},
		} {
			name := fmt.Sprintf("r%d-v%d", round, v)
			variant.hold.arm(t)
			e.ok("connect", "@"+name, "--no-wait", "--", server)
			t.Cleanup(func() { e.run("close", "@"+name) })

			// The hub spawned the bridge and recorded it; the bridge is held.
			var spawned events.Event
			testwait.For(t, 10*time.Second, func() error {
				evs := e.sessionEvents(name, events.KindBridgeSpawned)
				if len(evs) == 0 {
					return fmt.Errorf("@%s: no bridge_spawned yet", name)
				}
				spawned = evs[0]
				return nil
			})
			if !procAlive(spawned.PID) {
				t.Fatalf("round %d, %s: the held bridge %d of @%s is not running", round, variant.name, spawned.PID, name)
			}
			if n := countKind(e.sessionEvents(name), events.KindBridgeReady); n != 0 {
				t.Fatalf("round %d, %s: @%s is ready although held", round, variant.name, name)
			}
			if variant.hold == serverHold {
				// The bridge reached the hub and started its (held) server.
				testwait.For(t, 10*time.Second, func() error {
					if len(childrenOf(spawned.PID)) == 0 {
						return fmt.Errorf("bridge %d of @%s has not started its server", spawned.PID, name)
					}
					return nil
				})
			}

			old := theHub(t, e.home)
			if err := syscall.Kill(old.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			testwait.For(t, 5*time.Second, func() error {
				if procAlive(old.PID) {
					return fmt.Errorf("hub %d still running", old.PID)
				}
				return nil
			})
			if variant.killBridge {
				if err := syscall.Kill(spawned.PID, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				testwait.For(t, 5*time.Second, func() error {
					if procAlive(spawned.PID) {
						return fmt.Errorf("bridge %d still running", spawned.PID)
					}
					return nil
				})
			}
			variant.hold.release(t)
			if variant.hold == bridgeHold && !variant.killBridge {
				// The bridge goes on with no hub to reach: it either gives up (and exits) or
				// says it waits. Only then is the next hub started, so that the bridge cannot
				// simply find it.
				log := filepath.Join(e.home, "logs", "sessions", name+".log")
				testwait.For(t, 10*time.Second, func() error {
					b, _ := os.ReadFile(log)
					if !procAlive(spawned.PID) || strings.Contains(string(b), "waiting for the hub") {
						return nil
					}
					return fmt.Errorf("bridge %d of @%s neither exited nor waits for the hub; log: %s", spawned.PID, name, b)
				})
			}

			// The next command starts a hub and finds the session: a call, a wait, or a
			// connect to the same server (each round another).
			next := [][]string{{"@" + name, "ping"}, {"wait", "@" + name, "--for", "ready", "--timeout", "30s"},
				{"connect", "@" + name, "--", server}}[round%3]
			r := e.run(next...)
			if r.Code != 0 {
				log, _ := os.ReadFile(filepath.Join(e.home, "logs", "sessions", name+".log"))
				t.Fatalf("round %d, hub killed %s: the next command failed:\n%s\nevents %v\nsession log:\n%s", round, variant.name, r,
					kindsOf(e.sessionEvents(name)), log)
			}
			if r := e.ok("@"+name, "ping"); strings.TrimSpace(r.Stdout) != "pong" {
				t.Fatalf("round %d, hub killed %s: ping @%s:\n%s", round, variant.name, name, r)
			}
			if hub := theHub(t, e.home); hub.PID == old.PID {
				t.Fatalf("round %d: hub pid unchanged (%d) after SIGKILL", round, hub.PID)
			}
			s, _ := e.session(name)
			if s.Status != projector.StatusReady || s.Crashes != 0 {
				t.Fatalf("round %d, hub killed %s: @%s is %s with %d crashes (error %q), want ready with none; events %v", round,
					variant.name, name, s.Status, s.Crashes, s.Error, kindsOf(e.sessionEvents(name)))
			}
			// The held bridge is adopted and serves; one that died is replaced by the next
			// generation, requested by the new hub without counting a crash.
			wantGen, wantRestarts := spawned.Generation, 0
			if variant.killBridge {
				wantGen, wantRestarts = spawned.Generation+1, 1
			}
			if s.Generation != wantGen || s.Restarts != wantRestarts || s.Bridge == nil ||
				(!variant.killBridge && s.Bridge.PID != spawned.PID) {
				t.Fatalf("round %d, hub killed %s: @%s at generation %d (%d restarts) bridge %+v; want generation %d (%d restarts)%s",
					round, variant.name, name, s.Generation, s.Restarts, s.Bridge, wantGen, wantRestarts,
					map[bool]string{false: fmt.Sprintf(", the held bridge %d adopted", spawned.PID), true: ""}[variant.killBridge])
			}
			if r := e.ok("wait", "@"+name, "--for", "ready", "--timeout", "10s"); r.Code != 0 {
				t.Fatalf("wait --for ready:\n%s", r)
			}
		}
	}
}
