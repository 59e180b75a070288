package supervisor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

// fakeClock is the supervisor's Now, moved by the test.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// crashLoop runs a supervisor on a memory log with fake bridges that the test makes crash:
// every spawned generation becomes ready when the test says so and exits with the code the
// test gives it. The supervisor records the exit itself, as with a real child.
type crashLoop struct {
	*fakeSpawner
	t     *testing.T
	log   *events.MemLog
	sup   *Supervisor
	clock *fakeClock
}

// newCrashLoop creates a session with restart policy policy and starts a supervisor for it
// (tune adjusts the supervisor before Open). The supervisor spawns generation 1 at once.
func newCrashLoop(t *testing.T, policy events.RestartPolicy, tune func(*Supervisor)) *crashLoop {
	t.Helper()
	l := &crashLoop{fakeSpawner: newFakeSpawner(), t: t, log: events.NewMemLog(),
		clock: &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
	created := events.New(events.KindCreated, testNode, testSession, 1)
	created.Server = &events.Server{Transport: events.TransportStdio, Command: "server"}
	created.Restart = policy
	found := appendAll(t, l.log, created)

	l.sup = New(l.log, testNode, l.spawn)
	l.sup.Now = l.clock.Now
	l.sup.BackoffBase = time.Millisecond
	if tune != nil {
		tune(l.sup)
	}
	if err := l.sup.Open(context.Background(), []projector.Session{found}); err != nil {
		t.Fatal(err)
	}
	stop := follow(l.log, l.sup, found)
	t.Cleanup(func() {
		stop()
		_ = l.sup.Close()
		close(l.done) // bridges still running end with the test
	})
	return l
}

// crash waits for generation g's bridge to be recorded, makes it ready, then makes it
// exit with code 1 and waits for the supervisor to record the crash.
func (l *crashLoop) crash(g uint64) {
	l.t.Helper()
	var s projector.Session
	testwait.For(l.t, 5*time.Second, func() error {
		s, _ = session(l.t, l.log)
		if s.Generation != g || s.Bridge == nil || !s.Status.Live() {
			return fmt.Errorf("session %s at generation %d (bridge %v), want generation %d's bridge spawned", s.Status, s.Generation, s.Bridge != nil, g)
		}
		return nil
	})
	ready := events.New(events.KindBridgeReady, testNode, testSession, g)
	if _, err := l.log.Append(context.Background(), ready, events.After(s.LastSeq)); err != nil {
		l.t.Fatalf("bridge_ready for generation %d: %v", g, err)
	}
	l.exit(g, 1)
	testwait.For(l.t, 5*time.Second, func() error {
		if s, _ := session(l.t, l.log); s.LastExit == nil || s.LastExit.Generation != g {
			return fmt.Errorf("no exit of generation %d recorded (last exit %+v)", g, s.LastExit)
		}
		return nil
	})
}

// waitState waits until the session's folded state satisfies ok, described by want.
func (l *crashLoop) waitState(want string, ok func(projector.Session) bool) projector.Session {
	l.t.Helper()
	var s projector.Session
	testwait.For(l.t, 5*time.Second, func() error {
		s, _ = session(l.t, l.log)
		if !ok(s) {
			return fmt.Errorf("session %s at generation %d (%d crashes, %d restarts), want %s", s.Status, s.Generation, s.Crashes, s.Restarts, want)
		}
		return nil
	})
	return s
}

// reasons lists the reasons of the events of kind k, in log order.
func (l *crashLoop) reasons(k events.Kind) []string {
	l.t.Helper()
	_, evs := session(l.t, l.log)
	var rs []string
	for _, e := range evs {
		if e.Type == k {
			rs = append(rs, e.Reason)
		}
	}
	return rs
}

func TestNew_PolicyDefaults(t *testing.T) {
	s := New(events.NewMemLog(), testNode, newFakeSpawner().spawn)
	if s.BackoffBase != 100*time.Millisecond || s.BackoffMax != 30*time.Second || s.BurstLimit != 5 || s.BurstWindow != time.Minute {
		t.Errorf("New: backoff %s doubling up to %s, burst %d in %s; want 100ms up to 30s, 5 in 1m0s",
			s.BackoffBase, s.BackoffMax, s.BurstLimit, s.BurstWindow)
	}
	if s.Now == nil || s.Logger == nil {
		t.Errorf("New left Now (%v) or Logger (%v) nil", s.Now != nil, s.Logger != nil)
	}
}

func TestPolicy_ACrashedReadySessionIsRestarted(t *testing.T) {
	for _, policy := range []events.RestartPolicy{events.RestartOnFailure, events.RestartAlways} {
		t.Run(string(policy), func(t *testing.T) {
			l := newCrashLoop(t, policy, nil)
			l.crash(1)
			s := l.waitState("generation 2 spawned", func(s projector.Session) bool { return s.Generation == 2 && s.Bridge != nil })
			if s.Crashes != 1 || s.Restarts != 1 {
				t.Errorf("%d crashes, %d restarts; want 1 and 1", s.Crashes, s.Restarts)
			}
			want := fmt.Sprintf("restart policy %s (crash 1 in 1m0s, after 1ms): bridge exited with code 1", policy)
			if got := l.reasons(events.KindRestartRequested); len(got) != 1 || got[0] != want {
				t.Errorf("restart reasons %q, want [%q]", got, want)
			}
			if got := l.generations(); fmt.Sprint(got) != "[1 2]" {
				t.Errorf("spawned generations %v, want [1 2]", got)
			}
		})
	}
}

// policy is synchronous up to arming the restart timer, so what it leaves alone can be
// checked without waiting for something not to happen.
func TestPolicy_WhatIsNotRestarted(t *testing.T) {
	exited := func(g uint64) events.Event {
		e := events.New(events.KindBridgeExited, testNode, testSession, g)
		code := 1
		e.PID, e.Code = 1<<22, &code
		return e
	}
	tests := []struct {
		name   string
		policy events.RestartPolicy
		ready  bool
		armed  bool
	}{
		{"never", events.RestartNever, true, false},
		{"a session never ready since created (connect reports it)", events.RestartOnFailure, false, false},
		{"always, never ready", events.RestartAlways, false, false},
		{"on-failure, ready: restarted (the contrast)", events.RestartOnFailure, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := events.NewMemLog()
			es := started(t, 1<<22, tt.ready)
			es[0].Restart = tt.policy
			crashed := appendAll(t, log, append(es, exited(1))...)
			if crashed.Status != projector.StatusCrashed {
				t.Fatalf("fixture: session %s, want crashed", crashed.Status)
			}
			sup := New(log, testNode, newFakeSpawner().spawn)
			sup.BackoffBase = time.Hour // an armed timer must not fire during the test
			if err := sup.Open(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = sup.Close() })

			sup.policy(context.Background(), crashed)

			sup.mu.Lock()
			_, armed := sup.timers[testSession]
			counted := len(sup.crashes[testSession])
			sup.mu.Unlock()
			if armed != tt.armed {
				t.Errorf("restart armed = %v, want %v", armed, tt.armed)
			}
			if want := map[bool]int{true: 1}[tt.armed]; counted != want {
				t.Errorf("%d crashes counted toward the burst limit, want %d", counted, want)
			}
			if s, evs := session(t, log); s.LastSeq != crashed.LastSeq {
				t.Errorf("log moved from seq %d to %d (%d events): want nothing appended", crashed.LastSeq, s.LastSeq, len(evs))
			}
		})
	}
}

func TestPolicy_BackoffDoublesUpToTheMaximum(t *testing.T) {
	l := newCrashLoop(t, events.RestartOnFailure, func(s *Supervisor) {
		s.BackoffBase, s.BackoffMax, s.BurstLimit = time.Millisecond, 8*time.Millisecond, 10
	})
	for g := uint64(1); g <= 6; g++ {
		l.crash(g)
		l.waitState(fmt.Sprintf("generation %d spawned", g+1), func(s projector.Session) bool { return s.Generation == g+1 && s.Bridge != nil })
	}
	want := []string{"1ms", "2ms", "4ms", "8ms", "8ms", "8ms"}
	got := l.reasons(events.KindRestartRequested)
	if len(got) != len(want) {
		t.Fatalf("%d restarts, want %d: %q", len(got), len(want), got)
	}
	for i, r := range got {
		if !strings.Contains(r, fmt.Sprintf("(crash %d in 1m0s, after %s)", i+1, want[i])) {
			t.Errorf("restart %d: %q, want crash %d after %s", i+1, r, i+1, want[i])
		}
	}
}

// The default backoff, in real time: 100 ms, then 200 ms.
func TestPolicy_DefaultBackoffStartsAt100msAndDoubles(t *testing.T) {
	l := newCrashLoop(t, events.RestartOnFailure, func(s *Supervisor) { s.BackoffBase = DefaultBackoffBase })
	for g := uint64(1); g <= 2; g++ {
		l.crash(g)
		l.waitState(fmt.Sprintf("generation %d spawned", g+1), func(s projector.Session) bool { return s.Generation == g+1 && s.Bridge != nil })
	}
	got := l.reasons(events.KindRestartRequested)
	if len(got) != 2 || !strings.Contains(got[0], "after 100ms)") || !strings.Contains(got[1], "after 200ms)") {
		t.Errorf("restart reasons %q, want after 100ms then after 200ms", got)
	}
}

// Five restarts within the window are allowed; the sixth crash fails the session.
func TestPolicy_BurstLimitFailsTheSession(t *testing.T) {
	l := newCrashLoop(t, events.RestartAlways, nil) // the fake clock stands still: every crash is within the minute
	for g := uint64(1); g <= DefaultBurstLimit; g++ {
		l.crash(g)
		l.waitState(fmt.Sprintf("generation %d spawned", g+1), func(s projector.Session) bool { return s.Generation == g+1 && s.Bridge != nil })
	}
	l.crash(DefaultBurstLimit + 1)
	s := l.waitState("failed", func(s projector.Session) bool { return s.Status == projector.StatusFailed })
	if s.Generation != DefaultBurstLimit+1 || s.Crashes != DefaultBurstLimit+1 {
		t.Errorf("failed at generation %d after %d crashes, want generation %d after %d", s.Generation, s.Crashes, DefaultBurstLimit+1, DefaultBurstLimit+1)
	}
	if got, want := l.reasons(events.KindFailed), "restart policy always: 6 crashes within 1m0s"; len(got) != 1 || got[0] != want {
		t.Errorf("failed reasons %q, want [%q]", got, want)
	}
	if got := l.reasons(events.KindRestartRequested); len(got) != DefaultBurstLimit {
		t.Errorf("%d restarts requested, want %d", len(got), DefaultBurstLimit)
	}
	if got := l.generations(); len(got) != DefaultBurstLimit+1 {
		t.Errorf("spawned generations %v, want 1 to %d", got, DefaultBurstLimit+1)
	}
}

// Crashes further apart than the window never add up to the limit, and the backoff
// starts again from its base.
func TestPolicy_CrashesOutsideTheWindowDoNotCount(t *testing.T) {
	l := newCrashLoop(t, events.RestartOnFailure, nil)
	const crashes = DefaultBurstLimit + 2
	for g := uint64(1); g <= crashes; g++ {
		l.crash(g)
		l.waitState(fmt.Sprintf("generation %d spawned", g+1), func(s projector.Session) bool { return s.Generation == g+1 && s.Bridge != nil })
		l.clock.Advance(DefaultBurstWindow)
	}
	got := l.reasons(events.KindRestartRequested)
	if len(got) != crashes {
		t.Fatalf("%d restarts, want %d: %q", len(got), crashes, got)
	}
	for i, r := range got {
		if !strings.Contains(r, "(crash 1 in 1m0s, after 1ms)") {
			t.Errorf("restart %d: %q, want crash 1 after 1ms", i+1, r)
		}
	}
	if f := l.reasons(events.KindFailed); len(f) != 0 {
		t.Errorf("session failed: %q", f)
	}
}
