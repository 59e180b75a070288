package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestRestart_ShellLoopStormMakesOneGeneration starts 32 `mcpctl restart @s &` from a shell
// loop, with no gate: the shell forks them one after another, starved by the ones already
// started, over a couple of hundred milliseconds on a loaded machine, and their code gets to
// run over twice that — both longer than a whole restart (40–100 ms here). Every one of them
// still joins one new generation: exactly one restart_requested and one bridge per round.
// What makes it hold: a caller is satisfied by a generation that was not ready yet when its
// process started (from /proc), not when its code got to run.
func TestRestart_ShellLoopStormMakesOneGeneration(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)

	const callers = 32
	for round := 1; round <= 3; round++ {
		before, _ := e.session(name)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := e.cmd(ctx)
		cmd.Path = "/bin/sh"
		cmd.Args = []string{"sh", "-c", fmt.Sprintf(`for i in $(seq %d); do "$0" restart "@$1" & done; wait`, callers), mcpctlBin, name}
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		cancel()
		if err != nil || errb.Len() > 0 {
			t.Fatalf("round %d: the loop: %v\n  stderr: %s", round, err, errb.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		started, want := 0, fmt.Sprintf(" generation %d ", before.Generation+1)
		for _, l := range lines {
			switch {
			case !strings.Contains(l+" ", want):
				t.Errorf("round %d: %q is not about%s", round, l, want)
			case strings.Contains(l, "restarted to"):
				started++
			}
		}
		if len(lines) != callers || started != 1 {
			t.Errorf("round %d: %d lines, %d say they started the restart; want %d lines, exactly 1 started:\n%s",
				round, len(lines), started, callers, out.String())
		}
		var requested []uint64
		for _, ev := range e.sessionEvents(name, events.KindRestartRequested) {
			if ev.Generation > before.Generation {
				requested = append(requested, ev.Generation)
			}
		}
		after, _ := e.session(name)
		if len(requested) != 1 || after.Generation != before.Generation+1 || after.Status != "ready" {
			t.Fatalf("round %d: after generation %d the log has restart_requested for %v, the session is at %d (%s); want one request, generation %d ready",
				round, before.Generation, requested, after.Generation, after.Status, before.Generation+1)
		}
	}
}

// TestRestart_SequentialRestartsEachMakeAGeneration: `mcpctl restart @s; mcpctl restart @s`
// is two restarts. Each process starts only after the previous one saw its generation ready,
// a few milliseconds before: it is never taken for a caller started together with it.
func TestRestart_SequentialRestartsEachMakeAGeneration(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	before, _ := e.session(name)
	const n = 5
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := e.cmd(ctx)
	cmd.Path = "/bin/sh"
	cmd.Args = []string{"sh", "-c", fmt.Sprintf(`for i in $(seq %d); do "$0" restart "@$1" || exit; done`, n), mcpctlBin, name}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the loop: %v\n%s", err, out)
	}
	for i := 1; i <= n; i++ {
		if want := fmt.Sprintf("restarted to generation %d ", before.Generation+uint64(i)); !strings.Contains(string(out), want) {
			t.Errorf("restart %d of %d: no %q in\n%s", i, n, want, out)
		}
	}
	if after, _ := e.session(name); after.Generation != before.Generation+n {
		t.Errorf("after %d restarts in a row: generation %d, want %d", n, after.Generation, before.Generation+n)
	}
}

// TestClose_BridgeStillOpeningExitsAtOnce: a bridge whose server never answers the
// handshake is still opening (for up to a minute) when its session is closed. It watches its
// session from the start, so it and its server go at once instead of living on until the
// open times out, also when no hub tracks it (seen in the chaos soak: a bridge still opening outlived its generation and
// stood beside the next one).
func TestClose_BridgeStillOpeningExitsAtOnce(t *testing.T) {
	t.Parallel()
	e := isolated(t) // its hub is killed
	name := uniqueName(t)
	e.ok("connect", "@"+name, "--no-wait", "--restart", "never", "--", "sleep", "600")
	t.Cleanup(func() { e.run("close", "@"+name) })

	var first events.Event
	testwait.For(t, 20*time.Second, func() error {
		evs := e.sessionEvents(name, events.KindBridgeSpawned)
		if len(evs) == 0 {
			return fmt.Errorf("@%s: no bridge_spawned yet", name)
		}
		first = evs[0]
		if len(childrenOf(first.PID)) == 0 {
			return fmt.Errorf("bridge %d has not started its server", first.PID)
		}
		return nil
	})
	server := childrenOf(first.PID)[0]
	// The hub that started it dies: the next hub neither tracks nor adopts a bridge its
	// session no longer lists, so only the bridge's own watch can end it.
	hub := theHub(t, e.home)
	if err := syscall.Kill(hub.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, func() error {
		if procAlive(hub.PID) {
			return fmt.Errorf("hub %d still running", hub.PID)
		}
		return nil
	})

	e.ok("close", "@"+name)
	testwait.For(t, 20*time.Second, func() error {
		if procAlive(first.PID) || procAlive(server) {
			return fmt.Errorf("the bridge %d (server %d) of the closed @%s still runs", first.PID, server, name)
		}
		return nil
	})
	if n := countKind(e.sessionEvents(name), events.KindBridgeReady); n != 0 {
		t.Fatalf("@%s: %d bridge_ready for a server that never answered", name, n)
	}
}
