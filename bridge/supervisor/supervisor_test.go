package supervisor

import (
	"context"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

const (
	testNode    = "n"
	testSession = "s"
)

// deadPID returns the pid of a process that ran and was reaped.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// appendAll appends es to log in order, each expecting the last sequence of the session.
func appendAll(t *testing.T, log events.Log, es ...events.Event) projector.Session {
	t.Helper()
	ctx := context.Background()
	s := projector.Session{Node: testNode, Name: testSession}
	for _, e := range es {
		seq, err := log.Append(ctx, e, events.After(s.LastSeq))
		if err != nil {
			t.Fatalf("append %s: %v", e.Type, err)
		}
		e.Seq = seq
		s = projector.Apply(s, e)
	}
	return s
}

// session folds the session from the log.
func session(t *testing.T, log events.Log) (projector.Session, []events.Event) {
	t.Helper()
	var evs []events.Event
	s := projector.Session{Node: testNode, Name: testSession}
	err := log.Read(context.Background(), events.Query{Node: testNode, Session: testSession}, func(e events.Event) error {
		evs = append(evs, e)
		s = projector.Apply(s, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s, evs
}

// fakeSpawner records the generations it was asked to start. Each bridge runs until the
// test makes it exit (exit) or the test ends (done closed: exit code 0).
type fakeSpawner struct {
	mu    sync.Mutex
	gens  []uint64
	exits map[uint64]chan int // generation -> its bridge's exit code
	done  chan struct{}
}

func newFakeSpawner() *fakeSpawner {
	return &fakeSpawner{exits: map[uint64]chan int{}, done: make(chan struct{})}
}

func (f *fakeSpawner) spawn(_ context.Context, s projector.Session) (*Child, error) {
	ch := make(chan int, 1)
	f.mu.Lock()
	f.gens = append(f.gens, s.Generation)
	f.exits[s.Generation] = ch
	f.mu.Unlock()
	// A pid above the kernel's pid_max (at most 1<<22): no live process has it, so nothing
	// is ever killed.
	return &Child{PID: 1<<22 + int(s.Generation), StartTime: 1, Socket: "/nonexistent.sock", Wait: func() (*int, string) {
		code := 0
		select {
		case code = <-ch:
		case <-f.done:
		}
		return &code, ""
	}}, nil
}

// exit makes generation g's bridge exit with code.
func (f *fakeSpawner) exit(g uint64, code int) {
	f.mu.Lock()
	ch := f.exits[g]
	f.mu.Unlock()
	ch <- code
}

func (f *fakeSpawner) generations() []uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]uint64(nil), f.gens...)
}

// openSupervisor starts a supervisor on log as a new hub would: with the sessions as found,
// fed each state the log reaches; its bridges are fakes that run until the test ends.
func openSupervisor(t *testing.T, log events.Log, found projector.Session) (*fakeSpawner, *Supervisor) {
	t.Helper()
	sp := newFakeSpawner()
	sup := runSupervisor(t, log, found, sp.spawn, DefaultStopGrace)
	t.Cleanup(func() { close(sp.done) }) // runs before the supervisor's cleanup
	return sp, sup
}

// runSupervisor opens a supervisor for the session found in log, fed by a follower, with
// StopGrace grace; it is closed when the test ends.
func runSupervisor(t *testing.T, log events.Log, found projector.Session, spawn SpawnFunc, grace time.Duration) *Supervisor {
	t.Helper()
	sup := New(log, testNode, spawn)
	sup.StopGrace = grace
	sup.BackoffBase = time.Hour // no policy restart within these tests
	if err := sup.Open(context.Background(), []projector.Session{found}); err != nil {
		t.Fatal(err)
	}
	stop := follow(log, sup, found)
	t.Cleanup(func() {
		stop()
		_ = sup.Close()
	})
	return sup
}

// follow feeds sup every state the session reaches after found, as the hub's follower
// does, until stop is called.
func follow(log events.Log, sup *Supervisor, found projector.Session) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s := found
		_ = log.Follow(ctx, events.Query{Node: testNode, Session: testSession, AfterSeq: found.LastSeq}, func(e events.Event) error {
			s = projector.Apply(s, e)
			sup.Notify(s)
			return nil
		})
	}()
	return func() { cancel(); wg.Wait() }
}

func started(t *testing.T, pid int, ready bool) []events.Event {
	t.Helper()
	created := events.New(events.KindCreated, testNode, testSession, 1)
	created.Server = &events.Server{Transport: events.TransportStdio, Command: "server"}
	spawned := events.New(events.KindBridgeSpawned, testNode, testSession, 1)
	spawned.PID, spawned.PIDStartTime, spawned.Socket = pid, 12345, "/nonexistent.sock"
	es := []events.Event{created, spawned}
	if ready {
		es = append(es, events.New(events.KindBridgeReady, testNode, testSession, 1))
	}
	return es
}

// A new hub finds the bridge of a generation that never became ready dead, with no failure
// reported: it went with the hub that started it. The supervisor starts the next generation
// at once, without counting a crash, and records the exit for the log.
func TestAdopt_DeadBridgeOfANeverReadyGenerationIsStartedAgainWithoutACrash(t *testing.T) {
	log := events.NewMemLog()
	pid := deadPID(t)
	found := appendAll(t, log, started(t, pid, false)...)
	sp, _ := openSupervisor(t, log, found)

	testwait.For(t, 5*time.Second, func() error {
		if gens := sp.generations(); len(gens) != 1 || gens[0] != 2 {
			return fmt.Errorf("spawned generations %v, want [2]", gens)
		}
		s, evs := session(t, log)
		if s.Bridge == nil || s.Generation != 2 {
			return fmt.Errorf("session at generation %d bridge %+v, want generation 2 spawned; events %d", s.Generation, s.Bridge, len(evs))
		}
		return nil
	})
	s, evs := session(t, log)
	if s.Crashes != 0 || s.Restarts != 1 || s.Status != projector.StatusRestarting {
		t.Errorf("after the dead start: %s, %d crashes, %d restarts; want restarting, 0 crashes, 1 restart", s.Status, s.Crashes, s.Restarts)
	}
	var kinds []string
	exited := false
	for _, e := range evs {
		kinds = append(kinds, fmt.Sprintf("%s@%d", e.Type, e.Generation))
		if e.Type == events.KindBridgeExited && e.Generation == 1 && e.PID == pid {
			exited = true
		}
	}
	if !exited {
		t.Errorf("no bridge_exited recorded for the dead bridge %d: %v", pid, kinds)
	}
}

// A ready generation whose bridge is found dead is a crash, as before: the policy decides.
func TestAdopt_DeadBridgeOfAReadyGenerationIsACrash(t *testing.T) {
	log := events.NewMemLog()
	pid := deadPID(t)
	found := appendAll(t, log, started(t, pid, true)...)
	openSupervisor(t, log, found)

	testwait.For(t, 5*time.Second, func() error {
		if s, _ := session(t, log); s.Status != projector.StatusCrashed {
			return fmt.Errorf("session %s, want crashed", s.Status)
		}
		return nil
	})
	s, evs := session(t, log)
	if s.Crashes != 1 || s.Generation != 1 || s.Restarts != 0 {
		t.Errorf("after the dead ready bridge: generation %d, %d crashes, %d restarts; want 1, 1, 0 (%d events)", s.Generation,
			s.Crashes, s.Restarts, len(evs))
	}
}
