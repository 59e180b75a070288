package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestTimeout_AStoppedBridgeFailsTheCallSayingSoInsteadOfHanging: a call without --timeout
// on a bridge stopped with SIGSTOP ends (exit 3) naming the bridge's pid and saying it is
// stopped; with --timeout the timeout says so too. Nothing is restarted or re-sent, and the
// bridge answers again once continued.
func TestTimeout_AStoppedBridgeFailsTheCallSayingSoInsteadOfHanging(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	calls := e.connectTest(name)
	s, _ := e.session(name)
	pid := s.Bridge.PID
	must(t, syscall.Kill(pid, syscall.SIGSTOP))
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGCONT) })
	testwait.For(t, 5*time.Second, func() error {
		if st := procState(pid); st != 'T' {
			return fmt.Errorf("bridge %d in state %c, want T", pid, st)
		}
		return nil
	})

	start := time.Now()
	r := e.run("@"+name, "tools-call", "echo", "text:=hi")
	took := time.Since(start)
	if r.Code != 3 || !strings.Contains(r.Stderr, fmt.Sprintf("(pid %d) is stopped", pid)) ||
		!strings.Contains(r.Stderr, "not re-sent") || !hasHint(r.Stderr, fmt.Sprintf("kill -CONT %d", pid)) {
		t.Errorf("a call on a stopped bridge: want exit 3 naming pid %d as stopped, with a hint:\n%s", pid, r)
	}
	if took > 20*time.Second {
		t.Errorf("the call on a stopped bridge took %s", took)
	}
	r = e.run("--timeout", "1s", "@"+name, "ping")
	if r.Code != 3 || !strings.Contains(r.Stderr, "timed out after 1s") || !strings.Contains(r.Stderr, fmt.Sprintf("(pid %d) is stopped", pid)) {
		t.Errorf("--timeout on a stopped bridge: want exit 3 saying it timed out and the bridge is stopped:\n%s", r)
	}

	must(t, syscall.Kill(pid, syscall.SIGCONT))
	if r := e.ok("@"+name, "tools-call", "echo", "text:=again"); strings.TrimSpace(r.Stdout) != "again" {
		t.Fatalf("the call after SIGCONT:\n%s", r)
	}
	// The cancelled echo may have run once the bridge went on; it never ran twice.
	if n := countCalls(t, calls, "echo"); n > 2 {
		t.Errorf("echo ran %d times, want at most 2 (the cancelled call and the last one)", n)
	}
	after, _ := e.session(name)
	if after.Generation != s.Generation || after.Bridge.PID != pid {
		t.Errorf("after the stopped bridge: generation %d pid %d, want %d %d", after.Generation, after.Bridge.PID, s.Generation, pid)
	}
	if n := len(e.sessionEvents(name, events.KindRestartRequested)); n != 0 {
		t.Errorf("%d restart requests, want none", n)
	}
}

// TestSignal_InterruptedCommandsExit128PlusTheSignal: SIGINT ends a command with 130 and
// SIGTERM with 143, as shells expect; an interrupted tool call is cancelled at the server
// (notifications/cancelled reaches it), not re-sent, and the bridge stays.
func TestSignal_InterruptedCommandsExit128PlusTheSignal(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	calls := e.connectTest(name)
	s, _ := e.session(name)
	for i, tc := range []struct {
		sig  syscall.Signal
		code int
	}{{syscall.SIGINT, 130}, {syscall.SIGTERM, 143}} {
		t.Run(tc.sig.String()+" during tools-call", func(t *testing.T) {
			ce := &env{t: t, home: e.home, node: e.node}
			cmd := ce.cmd(t.Context(), "@"+name, "tools-call", "sleep", "ms:=60000")
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			must(t, cmd.Start())
			testwait.For(t, 10*time.Second, func() error {
				if n := countCalls(t, calls, "sleep"); n != i+1 {
					return fmt.Errorf("the server has %d sleep calls, want %d", n, i+1)
				}
				return nil
			})
			must(t, cmd.Process.Signal(tc.sig))
			_ = cmd.Wait()
			r := result{Stdout: out.String(), Stderr: errb.String(), Code: cmd.ProcessState.ExitCode()}
			if r.Code != tc.code || !strings.Contains(r.Stderr, tc.sig.String()+" signal received") ||
				!strings.Contains(r.Stderr, "not re-sent") {
				t.Errorf("want exit %d saying which signal and that the call was not re-sent:\n%s", tc.code, r)
			}
			testwait.For(t, 10*time.Second, func() error {
				log, _ := os.ReadFile(filepath.Join(e.home, "logs", "sessions", name+".log"))
				if n := bytes.Count(log, []byte("mcptestserver: sleep cancelled")); n != i+1 {
					return fmt.Errorf("the server log says %d sleeps were cancelled, want %d", n, i+1)
				}
				return nil
			})
		})
	}
	t.Run("SIGINT during events -f", func(t *testing.T) {
		cmd := e.cmd(t.Context(), "events", "-f", "--session", name)
		outPath := filepath.Join(t.TempDir(), "out")
		out, err := os.Create(outPath)
		must(t, err)
		defer out.Close()
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = out, &errb
		must(t, cmd.Start())
		testwait.For(t, 10*time.Second, func() error {
			if b, _ := os.ReadFile(outPath); !bytes.Contains(b, []byte("bridge_ready")) {
				return fmt.Errorf("events -f has printed %q so far", b)
			}
			return nil
		})
		must(t, cmd.Process.Signal(os.Interrupt))
		_ = cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != 130 || errb.Len() != 0 {
			t.Errorf("events -f after SIGINT: exit %d, stderr %q; want 130 and nothing on stderr", code, errb.String())
		}
	})
	if n := countCalls(t, calls, "sleep"); n != 2 {
		t.Errorf("sleep ran %d times, want 2 (never re-sent)", n)
	}
	after, _ := e.session(name)
	if after.Generation != s.Generation || after.Bridge.PID != s.Bridge.PID {
		t.Errorf("after the interrupted calls: generation %d pid %d, want %d %d", after.Generation, after.Bridge.PID, s.Generation, s.Bridge.PID)
	}
}

// TestGlobalFlags_AcceptedBetweenTheSessionAndTheCommand: mcpctl @s --json tools-call … is
// the same command as mcpctl --json @s tools-call … and mcpctl @s tools-call --json ….
func TestGlobalFlags_AcceptedBetweenTheSessionAndTheCommand(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	for _, args := range [][]string{
		{"--json", "@" + name, "tools-call", "echo", "text:=hi"},
		{"@" + name, "--json", "tools-call", "echo", "text:=hi"},
		{"@" + name, "tools-call", "--json", "echo", "text:=hi"},
		{"@" + name, "tools-call", "echo", "text:=hi", "--json"},
		{"@" + name, "--timeout", "30s", "-v", "--json", "tools-call", "echo", "text:=hi"},
	} {
		var res struct {
			Content []struct{ Text string }
		}
		r := e.ok(args...)
		if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil || len(res.Content) != 1 || res.Content[0].Text != "hi" {
			t.Errorf("mcpctl %s: want the JSON result with text hi (%v)\n%s", strings.Join(args, " "), err, r)
		}
	}
}

// TestLogs_AChattyServerLogIsRotatedWhileTheBridgeRuns: a server writing more than 10 MiB
// to stderr does not grow its session log past the limit; one old copy is kept, the newest
// lines are in the current log, and the session keeps working.
func TestLogs_AChattyServerLogIsRotatedWhileTheBridgeRuns(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := "chatty"
	e.connectTest(name)
	const limit = 10 << 20
	for i := 0; i < 3; i++ {
		r := e.ok("@"+name, "tools-call", "stderr", "bytes:=4194304")
		if strings.TrimSpace(r.Stdout) != "wrote 4194304" {
			t.Fatalf("stderr tool:\n%s", r)
		}
	}
	e.ok("@"+name, "tools-call", "echo", "text:=still here")
	log := filepath.Join(e.home, "logs", "sessions", name+".log")
	testwait.For(t, 10*time.Second, func() error {
		old, err := os.Stat(log + ".1")
		if err != nil {
			return fmt.Errorf("no old copy of the log: %v", err)
		}
		cur, err := os.Stat(log)
		if err != nil {
			return err
		}
		if cur.Size() > limit || old.Size() > limit {
			return fmt.Errorf("log %d bytes, old copy %d: want both at most %d", cur.Size(), old.Size(), limit)
		}
		if cur.Size()+old.Size() < 12<<20 {
			return fmt.Errorf("log %d + old copy %d bytes: the 12 MiB written are not all there yet", cur.Size(), old.Size())
		}
		return nil
	})
	b, _ := os.ReadFile(log)
	if !bytes.Contains(b, []byte("mcptestserver stderr flood line")) {
		t.Errorf("the current log does not have the newest server lines (%d bytes)", len(b))
	}
	if ents, _ := filepath.Glob(log + ".*"); len(ents) != 1 {
		t.Errorf("old copies %v, want exactly one", ents)
	}
	if r := e.ok("@"+name, "logs"); !strings.Contains(r.Stdout, "flood line") {
		t.Errorf("mcpctl @%s logs does not show the server's lines (%d bytes)", name, len(r.Stdout))
	}
}
