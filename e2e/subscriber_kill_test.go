package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestSubscribe_SIGKILLedSubscriberResumesFromItsCheckpointAndMissesNothing runs a durable
// subscriber as a process of its own, kills it with SIGKILL in the middle of a run of
// restarts, starts it again on the same checkpoint, and checks that it delivered every
// event of the session, with the content `mcpctl events --json` prints, in log order, the
// only repeats being events handled but not yet checkpointed when it died (at-least-once).
func TestSubscribe_SIGKILLedSubscriberResumesFromItsCheckpointAndMissesNothing(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	bin := filepath.Join(workDir, "subprobe") // built by TestMain
	dir := t.TempDir()
	cp, out := filepath.Join(dir, "cp"), filepath.Join(dir, "events.jsonl")

	startProbe := func() *exec.Cmd {
		cmd := exec.Command(bin, "--home", e.home, "--node", e.node, "--session", name, "--checkpoint", cp, "--out", out)
		cmd.Env = append(os.Environ(), "MCPCTL_HOME="+e.home)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || strings.TrimSpace(line) != "subscribed" {
			t.Fatalf("subprobe did not subscribe: %q %v", line, err)
		}
		return cmd
	}
	lines := func() []string {
		b, _ := os.ReadFile(out)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}

	probe := startProbe()
	t.Cleanup(func() { _ = probe.Process.Kill(); _ = probe.Wait() })
	for i := 0; i < 3; i++ {
		e.ok("restart", "@"+name)
	}
	// Kill it while events are still arriving: a restart in the background.
	done := make(chan result, 1)
	go func() { done <- e.run("restart", "@"+name) }()
	testwait.For(t, 10*time.Second, func() error {
		if n := len(lines()); n < 6 {
			return fmt.Errorf("%d events delivered so far", n)
		}
		return nil
	})
	if err := probe.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = probe.Wait()
	if r := <-done; r.Code != 0 {
		t.Fatalf("restart during the kill:\n%s", r)
	}
	for i := 0; i < 2; i++ {
		e.ok("restart", "@"+name)
	}

	probe = startProbe()
	want := e.sessionEvents(name)
	testwait.For(t, 15*time.Second, func() error {
		got := map[uint64]bool{}
		for _, l := range lines() {
			var ev events.Event
			if json.Unmarshal([]byte(l), &ev) == nil {
				got[ev.Seq] = true
			}
		}
		for _, w := range want {
			if !got[w.Seq] {
				return fmt.Errorf("event %d (%s) not delivered yet", w.Seq, w.Type)
			}
		}
		return nil
	})

	// Every delivered line is the event as `events --json` prints it; seqs never go back
	// except to re-deliver what was not checkpointed before the kill.
	byseq := map[uint64]string{}
	r := e.ok("events", "--json", "--session", name)
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var ev events.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatal(err)
		}
		byseq[ev.Seq] = l
	}
	var last uint64
	repeats := 0
	for _, l := range lines() {
		var ev events.Event
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("delivered line %q: %v", l, err)
		}
		if w, ok := byseq[ev.Seq]; ok && w != l {
			t.Errorf("event %d delivered as\n  %s\nevents --json prints\n  %s", ev.Seq, l, w)
		}
		if ev.Seq <= last {
			repeats++
		}
		last = max(last, ev.Seq)
	}
	if repeats > 1 {
		t.Errorf("%d events delivered twice; at most the one in flight at the kill may be", repeats)
	}
}
