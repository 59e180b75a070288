package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// sleeperSpawner starts a real process per generation, so that what the supervisor does to
// a bridge (a SIGTERM) can be seen. before, when set, runs inside Spawn before it returns.
type sleeperSpawner struct {
	t      *testing.T
	before func(s projector.Session)

	mu   sync.Mutex
	cmds map[uint64]*exec.Cmd
	sigs map[uint64]chan string // generation -> how its process ended
}

func newSleeperSpawner(t *testing.T) *sleeperSpawner {
	sp := &sleeperSpawner{t: t, cmds: map[uint64]*exec.Cmd{}, sigs: map[uint64]chan string{}}
	t.Cleanup(func() {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		for _, cmd := range sp.cmds {
			_ = cmd.Process.Kill()
		}
	})
	return sp
}

func (sp *sleeperSpawner) spawn(_ context.Context, s projector.Session) (*Child, error) {
	if sp.before != nil {
		sp.before(s)
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	start, err := proc.StartTime(cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	ended := make(chan string, 1)
	sp.mu.Lock()
	sp.cmds[s.Generation], sp.sigs[s.Generation] = cmd, ended
	sp.mu.Unlock()
	return &Child{PID: cmd.Process.Pid, StartTime: start, Socket: "/nonexistent.sock", Wait: func() (*int, string) {
		_ = cmd.Wait()
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			ended <- ws.Signal().String()
			return nil, ws.Signal().String()
		}
		code := ws.ExitStatus()
		ended <- fmt.Sprint("exit ", code)
		return &code, ""
	}}, nil
}

// ended waits for generation g's process to end and says how.
func (sp *sleeperSpawner) ended(g uint64) string {
	sp.t.Helper()
	var ch chan string
	testwait.For(sp.t, 5*time.Second, func() error {
		sp.mu.Lock()
		defer sp.mu.Unlock()
		if ch = sp.sigs[g]; ch == nil {
			return fmt.Errorf("generation %d not spawned", g)
		}
		return nil
	})
	select {
	case how := <-ch:
		return how
	case <-time.After(5 * time.Second):
		sp.t.Fatalf("generation %d's bridge still running", g)
		return ""
	}
}

func createdEvent() events.Event {
	e := events.New(events.KindCreated, testNode, testSession, 1)
	e.Server = &events.Server{Transport: events.TransportStdio, Command: "server"}
	return e
}

func TestSpawn_RecordsTheBridge(t *testing.T) {
	log := events.NewMemLog()
	found := appendAll(t, log, createdEvent())
	sp := newSleeperSpawner(t)
	runSupervisor(t, log, found, sp.spawn, 10*time.Millisecond)

	testwait.For(t, 5*time.Second, func() error {
		if s, _ := session(t, log); s.Bridge == nil || s.Bridge.Generation != 1 {
			return fmt.Errorf("session %s, bridge %+v; want generation 1's bridge recorded", s.Status, s.Bridge)
		}
		return nil
	})
	s, _ := session(t, log)
	sp.mu.Lock()
	pid := sp.cmds[1].Process.Pid
	sp.mu.Unlock()
	if s.Bridge.PID != pid || s.Bridge.PIDStartTime == 0 || s.Bridge.Socket != "/nonexistent.sock" {
		t.Errorf("recorded bridge %+v, want pid %d with its start time and socket", s.Bridge, pid)
	}
}

func TestSpawn_FailureIsRecorded(t *testing.T) {
	log := events.NewMemLog()
	found := appendAll(t, log, createdEvent())
	runSupervisor(t, log, found, func(context.Context, projector.Session) (*Child, error) {
		return nil, errors.New("exec: mcpctld: not found")
	}, DefaultStopGrace)

	testwait.For(t, 5*time.Second, func() error {
		if s, _ := session(t, log); s.Status != projector.StatusCrashed || s.Error != "exec: mcpctld: not found" {
			return fmt.Errorf("session %s (error %q), want crashed with the spawn error", s.Status, s.Error)
		}
		return nil
	})
}

// A close that lands while the bridge starts wins: bridge_spawned is not recorded and the
// bridge is stopped.
func TestSpawn_ABridgeThatLostToACloseIsStopped(t *testing.T) {
	log := events.NewMemLog()
	found := appendAll(t, log, createdEvent())
	sp := newSleeperSpawner(t)
	sp.before = func(s projector.Session) {
		if _, err := log.Append(context.Background(), events.New(events.KindClosed, testNode, testSession, s.Generation), events.After(s.LastSeq)); err != nil {
			t.Errorf("close during spawn: %v", err)
		}
	}
	runSupervisor(t, log, found, sp.spawn, time.Hour) // stopped at once, not as a stale bridge

	if how := sp.ended(1); how != syscall.SIGTERM.String() {
		t.Errorf("bridge ended by %q, want %s", how, syscall.SIGTERM)
	}
	_, evs := session(t, log)
	for _, e := range evs {
		if e.Type == events.KindBridgeSpawned {
			t.Errorf("bridge_spawned recorded (seq %d) after the session was closed", e.Seq)
		}
	}
}

// A bridge of an older generation that does not go by itself is told to within StopGrace.
func TestStopStale_SupersededBridgeIsTerminated(t *testing.T) {
	log := events.NewMemLog()
	found := appendAll(t, log, createdEvent())
	sp := newSleeperSpawner(t)
	runSupervisor(t, log, found, sp.spawn, 10*time.Millisecond)
	var s projector.Session
	testwait.For(t, 5*time.Second, func() error {
		if s, _ = session(t, log); s.Bridge == nil {
			return fmt.Errorf("session %s, want generation 1's bridge recorded", s.Status)
		}
		return nil
	})

	ready := events.New(events.KindBridgeReady, testNode, testSession, 1)
	seq, err := log.Append(context.Background(), ready, events.After(s.LastSeq))
	if err != nil {
		t.Fatal(err)
	}
	ready.Seq = seq
	if _, requested, err := projector.RequestRestart(context.Background(), log, projector.Apply(s, ready), "test", time.Time{}); err != nil || !requested {
		t.Fatalf("RequestRestart = %v, %v; want generation 2 requested", requested, err)
	}
	if how := sp.ended(1); how != syscall.SIGTERM.String() {
		t.Errorf("generation 1's bridge ended by %q, want %s", how, syscall.SIGTERM)
	}
	testwait.For(t, 5*time.Second, func() error {
		if s, _ := session(t, log); s.Generation != 2 || s.Bridge == nil {
			return fmt.Errorf("session at generation %d (bridge %v), want generation 2's bridge", s.Generation, s.Bridge != nil)
		}
		return nil
	})
}
