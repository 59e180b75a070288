package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestHubStop_WithLiveBridgesStopsCleanlyAndTheNextHubAdoptsThem: `hub stop` while bridges
// the hub spawned are running ends the hub by SIGTERM (it shuts its NATS server down, it is
// not killed after the grace period), the bridges keep serving, and the next hub adopts
// them: same generation, same pid.
func TestHubStop_WithLiveBridgesStopsCleanlyAndTheNextHubAdoptsThem(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := uniqueName(t)
	e.connectTest(name)
	before, _ := e.session(name)
	hub := theHub(t, e.home)

	e.ok("hub", "stop")
	testwait.For(t, 5*time.Second, func() error {
		if procAlive(hub.PID) {
			return fmt.Errorf("hub %d still running", hub.PID)
		}
		return nil
	})
	hubLog := filepath.Join(e.home, "logs", "hub.log")
	if stopping, exited := countLines(t, hubLog, `msg="hub stopping"`), countLines(t, hubLog, "Server Exiting"); stopping != 1 || exited != 1 {
		t.Fatalf("hub.log: %d 'hub stopping' and %d NATS 'Server Exiting' lines, want 1 each (a hub that stops is not killed)", stopping, exited)
	}
	if !procAlive(before.Bridge.PID) {
		t.Fatalf("bridge %d ended with the hub", before.Bridge.PID)
	}
	if r := e.ok("@"+name, "tools-call", "echo", "text:=adopted"); strings.TrimSpace(r.Stdout) != "adopted" {
		t.Fatalf("call after hub stop:\n%s", r)
	}
	after, _ := e.session(name)
	if after.Generation != before.Generation || after.Bridge == nil || after.Bridge.PID != before.Bridge.PID {
		t.Fatalf("after hub stop: generation %d bridge %+v, want the same generation %d and pid %d", after.Generation, after.Bridge, before.Generation, before.Bridge.PID)
	}
}
