package e2e

// The races of the design brief all at once: each scenario runs several rounds, and the
// scenarios run in parallel with each other (and with the rest of the suite) on the shared
// home, so one hub serves every storm at the same time. The hub-kill storm has a home of
// its own: killing the shared hub would disturb the other tests.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

var stormRounds = flag.Int("storms.rounds", 2, "rounds of each storm scenario (TestStorms_*)")

// callKeys counts the `count` calls of a calls log by key.
func callKeys(t testing.TB, path string) map[string]int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, line := range strings.Split(string(b), "\n") {
		var c struct {
			Tool string
			Args struct{ Key string }
		}
		if json.Unmarshal([]byte(line), &c) == nil && c.Tool == "count" {
			out[c.Args.Key]++
		}
	}
	return out
}

// newGeneration checks that the session went from before to exactly one newer generation,
// requested once, ready, with exactly one live bridge (the one listed) whose socket is
// the only one of the session.
func newGeneration(t *testing.T, e *env, name string, before projector.Session, what string) projector.Session {
	t.Helper()
	after, _ := e.session(name)
	if after.Generation != before.Generation+1 || after.Status != projector.StatusReady || after.Bridge == nil {
		t.Fatalf("%s: @%s at generation %d (%s), want %d ready", what, name, after.Generation, after.Status, before.Generation+1)
	}
	var requested []uint64
	for _, ev := range e.sessionEvents(name, events.KindRestartRequested) {
		if ev.Generation > before.Generation {
			requested = append(requested, ev.Generation)
		}
	}
	if len(requested) != 1 {
		t.Fatalf("%s: restart_requested after generation %d: %v, want exactly one", what, before.Generation, requested)
	}
	onlyBridge(t, e, name, after)
	return after
}

// onlyBridge waits until the session's only live bridge is the listed one and its socket
// the only socket of the session but those of killed bridges (a bridge killed with
// SIGKILL cannot remove its socket; `clean` does).
func onlyBridge(t *testing.T, e *env, name string, s projector.Session) {
	t.Helper()
	testwait.For(t, 10*time.Second, func() error {
		if pids := bridgePIDs(e.home, name); len(pids) != 1 || pids[0] != s.Bridge.PID {
			return fmt.Errorf("@%s: live bridges %v, want only %d", name, pids, s.Bridge.PID)
		}
		socks := sockets(e.home, name)
		if !slices.Contains(socks, s.Bridge.Socket) {
			return fmt.Errorf("@%s: sockets %v, want %s among them", name, socks, s.Bridge.Socket)
		}
		for _, sock := range socks {
			if pid := socketPID(sock); sock != s.Bridge.Socket && procAlive(pid) {
				return fmt.Errorf("@%s: socket %s of the live process %d besides the bridge's %s", name, sock, pid, s.Bridge.Socket)
			}
		}
		return nil
	})
}

// socketPID is the pid in a socket's name (<session>.<pid>.sock); 0 if none.
func socketPID(path string) int {
	base := strings.TrimSuffix(filepath.Base(path), ".sock")
	pid, _ := strconv.Atoi(base[strings.LastIndexByte(base, '.')+1:])
	return pid
}

// noBridge waits until a session has no live bridge and no socket.
func noBridge(t *testing.T, e *env, name string) {
	t.Helper()
	testwait.For(t, 10*time.Second, func() error {
		if pids := bridgePIDs(e.home, name); len(pids) != 0 {
			return fmt.Errorf("@%s: live bridges %v, want none", name, pids)
		}
		if socks := sockets(e.home, name); len(socks) != 0 {
			return fmt.Errorf("@%s: sockets %v, want none", name, socks)
		}
		return nil
	})
}

// started counts the restart callers that say they started the restart (the others
// joined it); every caller must say one or the other.
func startedCount(t *testing.T, rs []result, isRestart func(i int) bool) int {
	t.Helper()
	n := 0
	for i, r := range rs {
		if !isRestart(i) {
			continue
		}
		switch {
		case r.Code != 0:
			t.Fatalf("restart caller %d:\n%s", i, r)
		case strings.Contains(r.Stdout, "restarted to generation"):
			n++
		case strings.Contains(r.Stdout, "joined the restart to generation"):
		default:
			t.Fatalf("restart caller %d says neither started nor joined:\n%s", i, r)
		}
	}
	return n
}

func TestStorms_RacesTogetherOnTheSharedHome(t *testing.T) {
	t.Parallel()
	rounds := *stormRounds

	// 64 `restart` at once: one starts the restart, 63 join it; one new generation, one
	// bridge, one socket.
	t.Run("restart storm of 64", func(t *testing.T) {
		t.Parallel()
		e := shared(t)
		name := uniqueName(t)
		e.connectTest(name)
		for round := range rounds {
			before, _ := e.session(name)
			rs := runMany(e, 64, func(int) []string { return []string{"restart", "@" + name} })
			if n := startedCount(t, rs, func(int) bool { return true }); n != 1 {
				t.Fatalf("round %d: %d of 64 callers started the restart, want 1", round, n)
			}
			newGeneration(t, e, name, before, fmt.Sprintf("round %d", round))
		}
	})

	// The bridge is killed, then 32 calls at once find it dead: all succeed, each ran
	// exactly once, and the session got one new generation (requested by a caller or by
	// the restart policy, never both).
	t.Run("crash then 32 parallel calls", func(t *testing.T) {
		t.Parallel()
		e := shared(t)
		name := uniqueName(t)
		calls := e.connectTest(name)
		for round := range rounds {
			before, _ := e.session(name)
			if err := syscall.Kill(before.Bridge.PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			key := func(i int) string { return fmt.Sprintf("r%d-%d", round, i) }
			rs := runMany(e, 32, func(i int) []string {
				return []string{"@" + name, "tools-call", "count", "key:=" + key(i)}
			})
			for i, r := range rs {
				if r.Code != 0 || strings.TrimSpace(r.Stdout) != "1" {
					t.Fatalf("round %d, call %d: want exit 0 and 1 (first call with its key)\n%s", round, i, r)
				}
			}
			got := callKeys(t, calls)
			for i := range 32 {
				if got[key(i)] != 1 {
					t.Fatalf("round %d: key %s ran %d times, want exactly once", round, key(i), got[key(i)])
				}
			}
			// The killed bridge's socket may stay until a clean (the clean storm below has a
			// home of its own: clean forgets the dead sessions of other tests too).
			newGeneration(t, e, name, before, fmt.Sprintf("round %d", round))
		}
	})

	// `close` lands in the middle of 15 restarts: the session ends closed with no bridge
	// and no socket, whoever won; a restart that lost to the close says so (exit 1).
	t.Run("close during a restart", func(t *testing.T) {
		t.Parallel()
		e := shared(t)
		name := uniqueName(t)
		calls := e.connectTest(name)
		for round := range rounds {
			if round > 0 {
				e.ok("connect", "@"+name, "--", serverBin, "--calls-log", calls)
			}
			rs := runMany(e, 16, func(i int) []string {
				if i == 8 {
					return []string{"close", "@" + name}
				}
				return []string{"restart", "@" + name}
			})
			for i, r := range rs {
				switch {
				case i == 8 && (r.Code != 0 || !strings.Contains(r.Stdout, "closed")):
					t.Fatalf("round %d: close:\n%s", round, r)
				case i != 8 && r.Code != 0 && (r.Code != 1 || !strings.Contains(r.Stderr, "session closed")):
					t.Fatalf("round %d: restart %d failed otherwise than 'session closed':\n%s", round, i, r)
				}
			}
			if s, _ := e.session(name); s.Status != projector.StatusClosed || s.Bridge != nil {
				t.Fatalf("round %d: after close: status %s bridge %+v, want closed without a bridge", round, s.Status, s.Bridge)
			}
			noBridge(t, e, name)
		}
	})

	// `clean` runs while 15 restarts happen: it never touches the live session, its
	// bridge or its socket, and it removes the socket a killed bridge left. On a home of
	// its own: on the shared one it would forget other tests' crashed sessions, which is
	// what clean is for.
	t.Run("clean during a restart", func(t *testing.T) {
		t.Parallel()
		e := isolated(t)
		name := uniqueName(t)
		e.connectTest(name)
		for round := range rounds {
			before, _ := e.session(name)
			if round%2 == 1 { // a killed bridge leaves its socket behind
				killed := before.Bridge.PID
				if err := syscall.Kill(killed, syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				// Until the log has the exit. Not `wait --for exited`: under the on-failure
				// policy the hub may have started the next bridge before that command looks,
				// and it would wait for that one's exit.
				testwait.For(t, 30*time.Second, func() error {
					if s, _ := e.session(name); s.Bridge != nil && s.Bridge.PID == killed {
						return fmt.Errorf("the log still has the killed bridge %d of @%s", killed, name)
					}
					return nil
				})
				e.ok("restart", "@"+name)
				before, _ = e.session(name)
			}
			rs := runMany(e, 16, func(i int) []string {
				if i == 8 {
					return []string{"--json", "clean"}
				}
				return []string{"restart", "@" + name}
			})
			var cleaned struct{ Cleaned []string }
			if r := rs[8]; r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &cleaned) != nil {
				t.Fatalf("round %d: clean:\n%s", round, r)
			}
			if slices.Contains(cleaned.Cleaned, name) {
				t.Fatalf("round %d: clean cleaned the live session @%s", round, name)
			}
			if n := startedCount(t, rs, func(i int) bool { return i != 8 }); n != 1 {
				t.Fatalf("round %d: %d callers started the restart, want 1", round, n)
			}
			after := newGeneration(t, e, name, before, fmt.Sprintf("round %d", round))
			e.ok("clean") // the superseded bridge may have exited after the first one looked
			if socks := sockets(e.home, name); !slices.Equal(socks, []string{after.Bridge.Socket}) {
				t.Fatalf("round %d: sockets after clean %v, want only the live %s", round, socks, after.Bridge.Socket)
			}
			if r := e.ok("@"+name, "tools-call", "echo", "text:=after clean"); strings.TrimSpace(r.Stdout) != "after clean" {
				t.Fatalf("round %d: call after clean:\n%s", round, r)
			}
		}
		if n := countKind(e.sessionEvents(name), events.KindCleaned); n != 0 {
			t.Fatalf("the live session got %d cleaned events", n)
		}
	})

	// 8 `connect` of one new name at once, half with another server: exactly one creates
	// the session; those with the same server reuse it, the others fail with "exists".
	t.Run("connect of one name from 8 processes", func(t *testing.T) {
		t.Parallel()
		e := shared(t)
		for round := range rounds {
			name := uniqueName(t)
			servers := [2]string{"A", "B"}
			rs := runMany(e, 8, func(i int) []string {
				return []string{"connect", "@" + name, "--", serverBin, "--name", servers[i%2]}
			})
			t.Cleanup(func() { e.run("close", "@"+name) })
			s, ok := e.session(name)
			if !ok || s.Status != projector.StatusReady {
				t.Fatalf("round %d: @%s after the connects: %+v", round, name, s)
			}
			winner := s.ServerName
			created := 0
			for i, r := range rs {
				same := servers[i%2] == winner
				switch {
				case same && r.Code == 0 && strings.Contains(r.Stdout, "created"):
					created++
				case same && r.Code == 0 && strings.Contains(r.Stdout, "reused"):
				case !same && r.Code == 1 && strings.Contains(r.Stderr, "session exists with another server"):
				default:
					t.Fatalf("round %d, connect %d (server %s, the session has %s):\n%s", round, i, servers[i%2], winner, r)
				}
			}
			if created != 1 {
				t.Fatalf("round %d: %d connects say they created @%s, want 1", round, created, name)
			}
			if n := len(e.sessionEvents(name, events.KindCreated)); n != 1 {
				t.Fatalf("round %d: %d created events, want 1", round, n)
			}
			onlyBridge(t, e, name, s)
		}
	})

	// Listings (JSON and human) run while 16 restarts happen: every listing succeeds and
	// shows the session at the old or the new generation, never missing, never another.
	t.Run("listing while restarting", func(t *testing.T) {
		t.Parallel()
		e := shared(t)
		name := uniqueName(t)
		e.connectTest(name)
		for round := range rounds {
			before, _ := e.session(name)
			rs := runMany(e, 32, func(i int) []string {
				switch i % 4 {
				case 0:
					return []string{"--json", "sessions"}
				case 1:
					return []string{}
				default:
					return []string{"restart", "@" + name}
				}
			})
			for i, r := range rs {
				switch i % 4 {
				case 0:
					var list []projector.Session
					if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &list) != nil {
						t.Fatalf("round %d: listing %d:\n%s", round, i, r)
					}
					idx := slices.IndexFunc(list, func(s projector.Session) bool { return s.Name == name })
					if idx < 0 {
						t.Fatalf("round %d: listing %d misses @%s:\n%s", round, i, name, r)
					}
					if s := list[idx]; s.Generation != before.Generation && s.Generation != before.Generation+1 {
						t.Fatalf("round %d: listing %d shows generation %d, want %d or %d", round, i, s.Generation, before.Generation, before.Generation+1)
					}
				case 1:
					if r.Code != 0 || !lineHas(r.Stdout, name) {
						t.Fatalf("round %d: human listing %d misses @%s:\n%s", round, i, name, r)
					}
				}
			}
			if n := startedCount(t, rs, func(i int) bool { return i%4 >= 2 }); n != 1 {
				t.Fatalf("round %d: %d callers started the restart, want 1", round, n)
			}
			newGeneration(t, e, name, before, fmt.Sprintf("round %d", round))
		}
	})
}

// TestStorms_HubKilledInTheMiddleOfAStorm kills the hub with SIGKILL once a storm of
// restarts and calls has spawned the new bridge: every caller ends (success, or exit 3
// naming what failed), the next command brings the hub back, the session ends with one
// live bridge, the projection equals a replay, and every call that succeeded ran once.
func TestStorms_HubKilledInTheMiddleOfAStorm(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := uniqueName(t)
	calls := e.connectTest(name)
	for round := range *stormRounds {
		before, _ := e.session(name)
		hub := hubPID(t, e)
		key := func(i int) string { return fmt.Sprintf("r%d-%d", round, i) }
		var wg sync.WaitGroup
		var rs []result
		wg.Add(1)
		go func() {
			defer wg.Done()
			rs = runMany(e, 32, func(i int) []string {
				if i%2 == 0 {
					return []string{"restart", "@" + name}
				}
				return []string{"@" + name, "tools-call", "count", "key:=" + key(i)}
			})
		}()
		stormDone := make(chan struct{})
		go func() { wg.Wait(); close(stormDone) }()
		// In the middle: the new generation's bridge exists (or, on a fast machine, the
		// storm already ended).
		testwait.For(t, 30*time.Second, func() error {
			select {
			case <-stormDone:
				return nil
			default:
			}
			for _, p := range bridgePIDs(e.home, name) {
				if p != before.Bridge.PID {
					return nil
				}
			}
			return errors.New("no new bridge yet")
		})
		if err := syscall.Kill(hub, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-stormDone
		succeeded := map[string]bool{}
		failed := 0
		for i, r := range rs {
			switch {
			case r.Code == 3 && strings.TrimSpace(r.Stderr) != "":
				failed++
			case r.Code != 0:
				t.Fatalf("round %d, caller %d: want exit 0 or 3 with a message\n%s", round, i, r)
			case i%2 == 1:
				if strings.TrimSpace(r.Stdout) != "1" {
					t.Fatalf("round %d, call %d: first call with its key returned\n%s", round, i, r)
				}
				succeeded[key(i)] = true
			}
		}
		t.Logf("round %d: %d of 32 callers failed with exit 3 when the hub was killed", round, failed)
		// The next command starts a hub, which adopts or restarts what it finds.
		e.ok("wait", "@"+name, "--for", "ready")
		var after projector.Session
		testwait.For(t, 15*time.Second, func() error {
			after, _ = e.session(name)
			if after.Status != projector.StatusReady || after.Generation <= before.Generation || after.Bridge == nil {
				return fmt.Errorf("@%s: %s at generation %d, want ready past %d", name, after.Status, after.Generation, before.Generation)
			}
			return nil
		})
		onlyBridge(t, e, name, after)
		if n := len(hubPIDs(e.home)); n != 1 {
			t.Fatalf("round %d: %d hubs run for the home, want 1", round, n)
		}
		if r := e.ok("@"+name, "tools-call", "count", fmt.Sprintf("key:=r%d-after", round)); strings.TrimSpace(r.Stdout) != "1" {
			t.Fatalf("round %d: call after the storm:\n%s", round, r)
		}
		got := callKeys(t, calls)
		for i := 1; i < 32; i += 2 {
			if k := key(i); (succeeded[k] && got[k] != 1) || got[k] > 1 {
				t.Fatalf("round %d: key %s ran %d times (call succeeded: %v), want once if it succeeded, at most once otherwise", round, k, got[k], succeeded[k])
			}
		}
		var doc doctorDoc
		r := e.run("--json", "doctor")
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
			t.Fatalf("round %d: doctor --json: %v\n%s", round, err, r)
		}
		if c := doc.check(t, "projection"); !c.OK {
			t.Fatalf("round %d: the projection differs from a replay after the hub was killed: %+v", round, c)
		}
	}
}

// TestBridgeExit_KeepsTheSocketThatTookOverItsPath: a bridge's socket path is taken over
// while it runs (its file removed and another socket bound there, as a successor with a
// reused pid would); when the session closes, the exiting bridge removes only its own
// socket, so the other one survives and keeps answering.
func TestBridgeExit_KeepsTheSocketThatTookOverItsPath(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	s, _ := e.session(name)
	path := s.Bridge.Socket
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	t.Cleanup(func() { l.Close(); os.Remove(path) })
	successor, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}

	e.ok("close", "@"+name)
	testwait.For(t, 10*time.Second, func() error {
		if procAlive(s.Bridge.PID) {
			return fmt.Errorf("bridge %d still running after close", s.Bridge.PID)
		}
		return nil
	})
	fi, err := os.Lstat(path)
	if err != nil || !os.SameFile(fi, successor) {
		t.Fatalf("the socket that took over %s after the bridge exited: %v (same file: %v), want it kept", path, err, err == nil && os.SameFile(fi, successor))
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("the socket that took over %s no longer answers: %v", path, err)
	}
	c.Close()
}
