package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestRestart_ParallelCallersJoinOneGeneration starts 32 `mcpctl restart @s` processes
// together, a few rounds in a row: every caller succeeds, exactly one of them starts the
// restart, the others join it, and the session gets exactly one new generation and one
// bridge for it.
func TestRestart_ParallelCallersJoinOneGeneration(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)

	const callers = 32
	for round := 1; round <= 3; round++ {
		before, _ := e.session(name)
		oldPID := before.Bridge.PID
		rs := runMany(e, callers, func(i int) []string {
			if i%2 == 0 {
				return []string{"--json", "restart", "@" + name}
			}
			return []string{"restart", "@" + name}
		})
		started := 0
		for i, r := range rs {
			if r.Code != 0 {
				t.Fatalf("round %d, caller %d:\n%s", round, i, r)
			}
			if i%2 == 0 {
				var out struct {
					Started    *bool  `json:"started"`
					Generation uint64 `json:"generation"`
					Status     string `json:"status"`
				}
				if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil || out.Started == nil {
					t.Fatalf("round %d, caller %d: --json output has no \"started\": %v\n%s", round, i, err, r)
				}
				if out.Generation != before.Generation+1 || out.Status != "ready" {
					t.Fatalf("round %d, caller %d: generation %d status %s, want %d ready\n%s", round, i, out.Generation, out.Status, before.Generation+1, r)
				}
				if *out.Started {
					started++
				}
				continue
			}
			want := fmt.Sprintf("generation %d ", before.Generation+1)
			switch {
			case strings.Contains(r.Stdout, "restarted to "+want):
				started++
			case strings.Contains(r.Stdout, "joined the restart to "+want):
			default:
				t.Fatalf("round %d, caller %d: says neither started nor joined %s\n%s", round, i, want, r)
			}
		}
		if started != 1 {
			t.Errorf("round %d: %d callers say they started the restart, want exactly 1", round, started)
		}

		after, _ := e.session(name)
		if after.Generation != before.Generation+1 || after.Status != "ready" {
			t.Fatalf("round %d: session at generation %d (%s), want %d ready", round, after.Generation, after.Status, before.Generation+1)
		}
		evs := e.sessionEvents(name)
		var requested, spawned []uint64
		for _, ev := range evs {
			if ev.Generation <= before.Generation {
				continue
			}
			switch ev.Type {
			case events.KindRestartRequested:
				requested = append(requested, ev.Generation)
			case events.KindBridgeSpawned:
				spawned = append(spawned, ev.Generation)
			}
		}
		if len(requested) != 1 || len(spawned) != 1 {
			t.Fatalf("round %d: after generation %d the log has restart_requested for %v and bridge_spawned for %v, want one each",
				round, before.Generation, requested, spawned)
		}
		// bridge_spawned (the hub) and bridge_ready (the bridge) race; both follow the request.
		assertOrder(t, evs, step{events.KindRestartRequested, after.Generation}, step{events.KindBridgeSpawned, after.Generation})
		assertOrder(t, evs, step{events.KindRestartRequested, after.Generation}, step{events.KindBridgeReady, after.Generation})
		testwait.For(t, 5*time.Second, func() error {
			if pids := bridgePIDs(e.home, name); len(pids) != 1 || pids[0] != after.Bridge.PID {
				return fmt.Errorf("round %d: live bridges %v, want only the new one %d", round, pids, after.Bridge.PID)
			}
			if procAlive(oldPID) {
				return fmt.Errorf("old bridge %d still running", oldPID)
			}
			return nil
		})
	}
	if r := e.ok("@"+name, "tools-call", "add", "a:=1", "b:=1"); strings.TrimSpace(r.Stdout) != "2" {
		t.Fatalf("call after the restarts:\n%s", r)
	}
}

// TestImplicitRestart_KilledBridgeParallelCallsStartOneGeneration kills the bridge with
// SIGKILL and then makes 16 tool calls at once: each finds the bridge dead, all 16 succeed,
// and the log has exactly one restart request (whoever made it: a caller or the policy).
func TestImplicitRestart_KilledBridgeParallelCallsStartOneGeneration(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	calls := e.connectTest(name)
	s, _ := e.session(name)
	if err := syscall.Kill(s.Bridge.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}

	const callers = 16
	rs := runMany(e, callers, func(i int) []string {
		return []string{"@" + name, "tools-call", "add", fmt.Sprintf("a:=%d", i), "b:=1000"}
	})
	for i, r := range rs {
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != fmt.Sprint(i+1000) {
			t.Fatalf("caller %d, want exit 0 and %d:\n%s", i, i+1000, r)
		}
	}
	if n := countCalls(t, calls, "add"); n != callers {
		t.Errorf("calls log has %d add calls, want %d (each call runs once)", n, callers)
	}
	evs := e.sessionEvents(name)
	if n := countKind(evs, events.KindRestartRequested); n != 1 {
		t.Fatalf("restart_requested events: %d, want exactly 1\n%v", n, kindsOf(evs))
	}
	assertOrder(t, evs, step{events.KindBridgeReady, s.Generation}, step{events.KindRestartRequested, s.Generation + 1},
		step{events.KindBridgeSpawned, s.Generation + 1})
	assertOrder(t, evs, step{events.KindRestartRequested, s.Generation + 1}, step{events.KindBridgeReady, s.Generation + 1})
	// The killed bridge's exit is recorded by the hub that reaped it.
	testwait.For(t, 5*time.Second, func() error {
		for _, ev := range e.sessionEvents(name, events.KindBridgeExited) {
			if ev.PID == s.Bridge.PID && ev.Signal == "killed" {
				return nil
			}
		}
		return fmt.Errorf("no bridge_exited{pid %d, signal killed}", s.Bridge.PID)
	})
	after, _ := e.session(name)
	if pids := bridgePIDs(e.home, name); len(pids) != 1 || pids[0] != after.Bridge.PID {
		t.Fatalf("live bridges %v, want only %d", pids, after.Bridge.PID)
	}
}

// TestRestart_SupersededBridgeExitsAndLeavesItsSuccessorsSocket: after a restart the old
// bridge exits by itself within 2 s, removes only its own socket, and the new bridge's
// socket keeps working.
func TestRestart_SupersededBridgeExitsAndLeavesItsSuccessorsSocket(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	old, _ := e.session(name)

	e.ok("restart", "@"+name)
	restarted := time.Now()
	cur, _ := e.session(name)
	if cur.Bridge == nil || cur.Bridge.PID == old.Bridge.PID || cur.Bridge.Socket == old.Bridge.Socket {
		t.Fatalf("after restart: bridge %+v, old %+v", cur.Bridge, old.Bridge)
	}
	testwait.For(t, 2*time.Second, func() error {
		if procAlive(old.Bridge.PID) {
			return fmt.Errorf("superseded bridge %d still running %s after the restart", old.Bridge.PID, time.Since(restarted))
		}
		return nil
	})
	testwait.For(t, 2*time.Second, func() error {
		if got := sockets(e.home, name); !slices.Equal(got, []string{cur.Bridge.Socket}) {
			return fmt.Errorf("sockets of @%s: %v, want only %s", name, got, cur.Bridge.Socket)
		}
		return nil
	})
	if r := e.ok("@"+name, "tools-call", "echo", "text:=still here"); strings.TrimSpace(r.Stdout) != "still here" {
		t.Fatalf("call on the new bridge:\n%s", r)
	}
	// The old generation stopped on its own (bridge_stopping) and exited cleanly.
	evs := e.sessionEvents(name)
	assertOrder(t, evs,
		step{events.KindRestartRequested, cur.Generation},
		step{events.KindBridgeStopping, old.Generation},
		step{events.KindBridgeExited, old.Generation})
	for _, ev := range evs {
		if ev.Type == events.KindBridgeExited && ev.Generation == old.Generation && (ev.Code == nil || *ev.Code != 0) {
			t.Fatalf("superseded bridge exit: code %v signal %q, want code 0 (it left by itself)", ev.Code, ev.Signal)
		}
	}
}

// TestClean_KeepsLiveSocketsAndRemovesStaleOnes runs clean while a session is live: its
// socket stays and calls still work; socket files of a dead pid, and of a pid that is not
// a bridge of that session, are removed. (A home of its own: on the shared home clean
// would also forget the sessions other tests crash on purpose.)
func TestClean_KeepsLiveSocketsAndRemovesStaleOnes(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := uniqueName(t)
	e.connectTest(name)
	s, _ := e.session(name)

	dead := deadPID(t)
	staleDead := filepath.Join(e.home, "bridges", fmt.Sprintf("%s.%d.sock", name, dead))
	// A live pid that is not a bridge of this session: a reused pid must not keep a socket.
	staleReused := filepath.Join(e.home, "bridges", fmt.Sprintf("%s.%d.sock", name, os.Getpid()))
	for _, p := range []string{staleDead, staleReused} {
		makeSocketFile(t, p)
	}

	var out struct {
		Cleaned        []string `json:"cleaned"`
		SocketsRemoved int      `json:"sockets_removed"`
	}
	e.jsonOK(&out, "clean")
	if slices.Contains(out.Cleaned, name) {
		t.Fatalf("clean cleaned the live session @%s: %+v", name, out)
	}
	if out.SocketsRemoved < 2 {
		t.Errorf("clean says it removed %d sockets, want at least our 2 stale ones", out.SocketsRemoved)
	}
	if got := sockets(e.home, name); !slices.Equal(got, []string{s.Bridge.Socket}) {
		t.Fatalf("sockets of @%s after clean: %v, want only the live %s", name, got, s.Bridge.Socket)
	}
	if r := e.ok("@"+name, "ping"); strings.TrimSpace(r.Stdout) != "pong" {
		t.Fatalf("ping after clean:\n%s", r)
	}
	after, _ := e.session(name)
	if after.Generation != s.Generation || after.Bridge.PID != s.Bridge.PID {
		t.Fatalf("clean changed the live session: generation %d pid %d, was %d %d", after.Generation, after.Bridge.PID, s.Generation, s.Bridge.PID)
	}
	if n := countKind(e.sessionEvents(name), events.KindCleaned); n != 0 {
		t.Fatalf("the live session got %d cleaned events", n)
	}
}

// makeSocketFile leaves a real Unix socket file at path with nobody listening on it.
func makeSocketFile(t *testing.T, path string) {
	t.Helper()
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	t.Cleanup(func() { os.Remove(path) })
}
