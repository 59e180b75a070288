package supervisor

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// liveProcess starts a process that stands in for a bridge a previous hub left running,
// and returns its pid and start time. It is killed when the test ends.
func liveProcess(t *testing.T) (*exec.Cmd, uint64) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	start, err := proc.StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	return cmd, start
}

// readyWith is a ready session whose bridge is pid, recorded with start time start.
func readyWith(t *testing.T, log events.Log, pid int, start uint64) projector.Session {
	t.Helper()
	es := started(t, pid, true)
	es[1].PIDStartTime = start
	return appendAll(t, log, es...)
}

// waitAdopted waits until sup watches pid.
func waitAdopted(t *testing.T, sup *Supervisor, pid int) {
	t.Helper()
	testwait.For(t, 5*time.Second, func() error {
		if !watching(sup, pid) {
			return fmt.Errorf("bridge %d not adopted", pid)
		}
		return nil
	})
}

func watching(sup *Supervisor, pid int) bool {
	sup.mu.Lock()
	defer sup.mu.Unlock()
	_, ok := sup.running[testSession+"/"+strconv.Itoa(pid)]
	return ok
}

// A bridge that outlived its hub is adopted: watched through a pidfd, left alone while it
// runs, and its exit recorded when it goes.
func TestAdopt_LiveBridgeIsWatchedAndItsExitRecorded(t *testing.T) {
	log := events.NewMemLog()
	cmd, start := liveProcess(t)
	pid := cmd.Process.Pid
	found := readyWith(t, log, pid, start)
	sp, sup := openSupervisor(t, log, found)

	waitAdopted(t, sup, pid)
	if s, evs := session(t, log); s.LastSeq != found.LastSeq || s.Status != projector.StatusReady {
		t.Errorf("after adoption: session %s at seq %d (%d events), want ready at %d with nothing appended", s.Status, s.LastSeq, len(evs), found.LastSeq)
	}
	if !proc.Alive(pid, start) {
		t.Fatalf("adopted bridge %d no longer running", pid)
	}

	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	testwait.For(t, 5*time.Second, func() error {
		s, _ := session(t, log)
		if s.Status != projector.StatusCrashed || s.LastExit == nil {
			return fmt.Errorf("session %s, last exit %+v; want crashed with the exit recorded", s.Status, s.LastExit)
		}
		if want := "adopted bridge exited (exit status unknown)"; s.LastExit.Reason != want || s.LastExit.Generation != 1 {
			return fmt.Errorf("last exit %+v, want generation 1 with reason %q", s.LastExit, want)
		}
		return nil
	})
	testwait.For(t, 5*time.Second, func() error {
		if watching(sup, pid) {
			return fmt.Errorf("still watching bridge %d after its exit was recorded", pid)
		}
		return nil
	})
	if gens := sp.generations(); len(gens) != 0 {
		t.Errorf("spawned generations %v, want none (the policy's backoff is an hour)", gens)
	}
}

// A live process with the recorded pid but another start time is not the bridge: the pid
// was reused. It is neither adopted nor touched, and the bridge is recorded as gone.
func TestAdopt_AReusedPIDIsNotAdopted(t *testing.T) {
	log := events.NewMemLog()
	cmd, start := liveProcess(t)
	pid := cmd.Process.Pid
	found := readyWith(t, log, pid, start+1)
	_, sup := openSupervisor(t, log, found)

	testwait.For(t, 5*time.Second, func() error {
		s, _ := session(t, log)
		if s.Status != projector.StatusCrashed || s.LastExit == nil {
			return fmt.Errorf("session %s, want crashed with the exit recorded", s.Status)
		}
		if want := "not running when the hub looked (exit status unknown)"; s.LastExit.Reason != want {
			return fmt.Errorf("last exit reason %q, want %q", s.LastExit.Reason, want)
		}
		return nil
	})
	if watching(sup, pid) {
		t.Errorf("watching pid %d, which belongs to another process", pid)
	}
	if !proc.Alive(pid, start) {
		t.Errorf("the process that reused pid %d was stopped", pid)
	}
}

// Close leaves bridges running, and records no exit for them: the next hub adopts them.
func TestClose_LeavesAdoptedBridgesRunning(t *testing.T) {
	log := events.NewMemLog()
	cmd, start := liveProcess(t)
	pid := cmd.Process.Pid
	found := readyWith(t, log, pid, start)
	_, sup := openSupervisor(t, log, found)
	waitAdopted(t, sup, pid)

	if err := sup.Close(); err != nil {
		t.Fatal(err)
	}
	if !proc.Alive(pid, start) {
		t.Errorf("bridge %d stopped by Close", pid)
	}
	if s, _ := session(t, log); s.LastSeq != found.LastSeq {
		t.Errorf("log moved from seq %d to %d on Close, want nothing appended", found.LastSeq, s.LastSeq)
	}
}
