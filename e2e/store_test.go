package e2e

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestStore_RemovedUnderARunningHub: `rm -rf $MCPCTL_HOME/hub` while the hub runs. The hub
// notices, stops taking writes and exits; the next hub starts on a fresh store and stops
// the bridges (and their servers) that the new log does not know, instead of letting them
// run on unseen.
func TestStore_RemovedUnderARunningHubIsNoticedAndOrphansAreStopped(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.connectTest("lost")
	s, ok := e.session("lost")
	if !ok || s.Bridge == nil {
		t.Fatalf("@lost not listed with a bridge: %+v", s)
	}
	bridge := s.Bridge.PID
	servers := childrenOf(bridge)
	hubs := hubPIDs(e.home)
	if len(hubs) != 1 || len(servers) == 0 {
		t.Fatalf("hubs %v, servers of the bridge %v: want one hub and a server", hubs, servers)
	}

	if err := os.RemoveAll(filepath.Join(e.home, "hub")); err != nil {
		t.Fatal(err)
	}
	// The hub notices and ends by itself.
	testwait.For(t, 10*time.Second, func() error {
		if procAlive(hubs[0]) {
			return fmt.Errorf("the hub (pid %d) still runs on a removed store", hubs[0])
		}
		return nil
	})
	if b, _ := os.ReadFile(filepath.Join(e.home, "logs", "hub.log")); !strings.Contains(string(b), "store was removed") {
		t.Errorf("the hub log does not say the store was removed:\n%s", b)
	}

	// The next hub (started by any command) has an empty log, and stops what it does not know.
	if r := e.ok("--json", "sessions"); strings.Contains(r.Stdout, `"lost"`) {
		t.Errorf("sessions on the fresh store lists @lost: %s", r.Stdout)
	}
	testwait.For(t, 15*time.Second, func() error {
		for _, p := range append([]int{bridge}, servers...) {
			if procAlive(p) {
				return fmt.Errorf("pid %d (the bridge %d or its server) still runs", p, bridge)
			}
		}
		return nil
	})
	if socks := sockets(e.home, "lost"); len(socks) != 0 {
		t.Errorf("sockets of the stopped bridge left behind: %v", socks)
	}
	if r := e.run("restart", "@lost"); r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("restart of a session the fresh log does not know:\n%s\nwant exit 1, not found", r)
	}
	if got := hubPIDs(e.home); len(got) != 1 || slices.Contains(got, hubs[0]) {
		t.Errorf("hubs after: %v, want one new hub", got)
	}
}

// TestStore_CleanStopsBridgesTheLogDoesNotKnow: a bridge process of this home whose session
// the log has never seen (its events were lost) is stopped by `clean`.
func TestStore_CleanStopsBridgesTheLogDoesNotKnow(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.connectTest("known")
	s, _ := e.session("known")
	if s.Bridge == nil {
		t.Fatal("@known has no bridge")
	}
	// Lose the store while the hub is stopped: the bridge outlives both.
	e.ok("hub", "stop")
	if err := os.RemoveAll(filepath.Join(e.home, "hub")); err != nil {
		t.Fatal(err)
	}
	if !procAlive(s.Bridge.PID) {
		t.Fatalf("the bridge %d exited with its hub", s.Bridge.PID)
	}
	r := e.ok("clean")
	testwait.For(t, 15*time.Second, func() error {
		if procAlive(s.Bridge.PID) {
			return fmt.Errorf("the bridge %d of a session the log does not know still runs (clean said %q)", s.Bridge.PID, r.Stdout)
		}
		if _, err := os.Stat(s.Bridge.Socket); !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("its socket %s: %v", s.Bridge.Socket, err)
		}
		return nil
	})
}
