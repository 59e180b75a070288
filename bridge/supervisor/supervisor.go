// Package supervisor acts on session state inside the hub: it spawns a bridge for every
// requested generation and records it with a conditional bridge_spawned, reaps the bridges it
// started and records their exits, adopts bridges that outlived a previous hub (pidfd), and
// applies each session's restart policy with backoff and a burst limit.
//
// It is level-triggered: Notify hands it a session's latest state, and it decides from that
// state alone what is missing. Losing a compare-and-set means someone else acted first; the
// supervisor re-reads and decides again.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// Defaults for the restart policy.
const (
	DefaultBackoffBase  = 100 * time.Millisecond
	DefaultBackoffMax   = 30 * time.Second
	DefaultBurstLimit   = 5
	DefaultBurstWindow  = time.Minute
	DefaultStopGrace    = 1500 * time.Millisecond // a superseded bridge exits by itself; after this it is told to
	DefaultAppendBudget = 10 * time.Second
)

// Child is a bridge process the supervisor started.
type Child struct {
	PID       int
	StartTime uint64
	Socket    string
	// Wait blocks until the process exits and reports how (code nil when killed by a signal).
	Wait func() (code *int, signal string)
}

// SpawnFunc starts a bridge for s at s.Generation.
type SpawnFunc func(ctx context.Context, s projector.Session) (*Child, error)

// Supervisor spawns, reaps and adopts the bridges of one node.
type Supervisor struct {
	Log    events.Log
	Node   string
	Spawn  SpawnFunc
	Logger *slog.Logger

	BackoffBase time.Duration
	BackoffMax  time.Duration
	BurstLimit  int
	BurstWindow time.Duration
	StopGrace   time.Duration

	// Now is the clock (tests may replace it).
	Now func() time.Time

	mu      sync.Mutex
	pending map[string]projector.Session // latest state per session, not yet reconciled
	wake    chan struct{}
	running map[string]*tracked // session -> bridges we watch, by pid
	spawned map[string]uint64   // session -> newest generation we spawned for
	crashes map[string][]time.Time
	timers  map[string]*time.Timer
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	ctx     context.Context
}

type tracked struct {
	generation uint64
	pid        int
	start      uint64
	adopted    bool
	done       chan struct{}
}

// New returns a supervisor with default policy settings.
func New(log events.Log, node string, spawn SpawnFunc) *Supervisor {
	return &Supervisor{
		Log: log, Node: node, Spawn: spawn,
		Logger:      slog.New(slog.DiscardHandler),
		BackoffBase: DefaultBackoffBase, BackoffMax: DefaultBackoffMax,
		BurstLimit: DefaultBurstLimit, BurstWindow: DefaultBurstWindow,
		StopGrace: DefaultStopGrace,
		Now:       time.Now,
		pending:   map[string]projector.Session{},
		running:   map[string]*tracked{},
		spawned:   map[string]uint64{},
		crashes:   map[string][]time.Time{},
		timers:    map[string]*time.Timer{},
		wake:      make(chan struct{}, 1),
	}
}

// Open starts the reconcile loop and adopts the bridges of sessions (the projection as the
// hub found it: bridges still running from a previous hub are watched, dead ones recorded).
func (s *Supervisor) Open(ctx context.Context, sessions []projector.Session) error {
	if s.Spawn == nil || s.Log == nil {
		return errors.New("supervisor: Log and Spawn are required")
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, sess := range sessions {
		s.Notify(sess)
	}
	s.wg.Add(1)
	go s.loop()
	return nil
}

// Close stops the loop and waits for its goroutines. Bridges keep running: the next hub
// adopts them.
func (s *Supervisor) Close() error {
	if s.cancel == nil {
		return nil
	}
	s.cancel()
	s.mu.Lock()
	for _, t := range s.timers {
		t.Stop()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// Notify hands the supervisor a session's latest state. It never blocks.
func (s *Supervisor) Notify(sess projector.Session) {
	if sess.Node != s.Node {
		return
	}
	s.mu.Lock()
	if old, ok := s.pending[sess.Name]; !ok || old.LastSeq <= sess.LastSeq {
		s.pending[sess.Name] = sess
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *Supervisor) loop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-s.wake:
		}
		s.mu.Lock()
		batch := s.pending
		s.pending = map[string]projector.Session{}
		s.mu.Unlock()
		for _, sess := range batch {
			if s.ctx.Err() != nil {
				return
			}
			s.reconcile(s.ctx, sess)
		}
	}
}

// reconcile decides, from one session's state, what is missing, and does it.
func (s *Supervisor) reconcile(ctx context.Context, sess projector.Session) {
	name := sess.Name
	s.stopStale(sess)
	switch {
	case !sess.IsOpen():
		return
	case sess.Status.Live() && sess.Bridge == nil:
		s.mu.Lock()
		done := s.spawned[name] >= sess.Generation
		if !done {
			s.spawned[name] = sess.Generation
		}
		s.mu.Unlock()
		if !done {
			s.spawn(ctx, sess)
		}
	case sess.Status.Live() && sess.Bridge != nil:
		s.mu.Lock()
		_, watched := s.running[name+"/"+fmt.Sprint(sess.Bridge.PID)]
		if s.spawned[name] < sess.Generation {
			s.spawned[name] = sess.Generation
		}
		s.mu.Unlock()
		if !watched {
			s.adopt(ctx, sess)
		}
	case sess.Status == projector.StatusCrashed && sess.Bridge == nil:
		s.policy(ctx, sess)
	}
}

// spawn starts the bridge for sess.Generation and records it, conditionally on the state
// it was started for. If the session moved on meanwhile (closed, superseded), the bridge is
// stopped again.
func (s *Supervisor) spawn(ctx context.Context, sess projector.Session) {
	gen := sess.Generation
	child, err := s.Spawn(ctx, sess)
	if err != nil {
		s.Logger.Error("spawn bridge", "session", sess.Name, "generation", gen, "err", err)
		e := events.New(events.KindSpawnFailed, s.Node, sess.Name, gen)
		e.Error = err.Error()
		s.appendWhile(ctx, sess, e, func(cur projector.Session) bool {
			return cur.Generation == gen && cur.Status.Live() && cur.Bridge == nil
		})
		return
	}
	s.track(sess.Name, &tracked{generation: gen, pid: child.PID, start: child.StartTime, done: make(chan struct{})},
		func() (*int, string, bool) { code, sig := child.Wait(); return code, sig, true })
	e := events.New(events.KindBridgeSpawned, s.Node, sess.Name, gen)
	e.PID, e.PIDStartTime, e.Socket = child.PID, child.StartTime, child.Socket
	ok := s.appendWhile(ctx, sess, e, func(cur projector.Session) bool {
		return cur.Generation == gen && cur.Status.Live() && cur.Bridge == nil
	})
	if !ok {
		// Closed or superseded before the spawn was recorded: this bridge must not live.
		s.Logger.Info("spawned bridge lost to a newer event; stopping it", "session", sess.Name, "generation", gen, "pid", child.PID)
		s.kill(child.PID, child.StartTime, syscall.SIGTERM)
	}
}

// track watches a child we started: when it exits, its exit is recorded.
func (s *Supervisor) track(name string, t *tracked, wait func() (code *int, sig string, exited bool)) {
	key := name + "/" + fmt.Sprint(t.pid)
	s.mu.Lock()
	s.running[key] = t
	s.mu.Unlock()
	type exit struct {
		code   *int
		sig    string
		exited bool
	}
	// A child of ours is waited for in a goroutine of its own that Close does not wait
	// for: bridges outlive the hub (the next one adopts them), and a hub that waited for
	// them on the way out would not stop until it was killed. That goroutine ends with the
	// process at the latest.
	exits := make(chan exit, 1)
	go func() {
		code, sig, exited := wait()
		exits <- exit{code, sig, exited}
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		var x exit
		select {
		case x = <-exits:
		case <-s.ctx.Done():
			return // stopping: the next hub adopts the bridge and records its exit
		}
		code, sig, exited := x.code, x.sig, x.exited
		// Record the exit before forgetting the process: a reconcile that finds it
		// unwatched must find its exit in the log too, or it would take it for a bridge
		// that died while no hub watched (adopt).
		if exited {
			reason := ""
			if t.adopted {
				reason = "adopted bridge exited (exit status unknown)"
			}
			s.recordExit(name, t, code, sig, reason)
		}
		close(t.done)
		s.mu.Lock()
		delete(s.running, key)
		s.mu.Unlock()
	}()
}

// recordExit appends bridge_exited. It is a fact nobody competes for, recorded by the one
// supervisor that saw it, so it is appended unconditionally; the fold ignores it when a newer
// generation exists.
func (s *Supervisor) recordExit(name string, t *tracked, code *int, sig, reason string) {
	e := events.New(events.KindBridgeExited, s.Node, name, t.generation)
	e.PID, e.PIDStartTime, e.Code, e.Signal, e.Reason = t.pid, t.start, code, sig, reason
	ctx, cancel := context.WithTimeout(context.Background(), DefaultAppendBudget)
	defer cancel()
	if _, err := s.Log.Append(ctx, e, events.Unconditional()); err != nil {
		s.Logger.Error("record bridge exit", "session", name, "pid", t.pid, "err", err)
	}
}

// adopt watches a bridge that a previous hub started, or records it dead.
func (s *Supervisor) adopt(ctx context.Context, sess projector.Session) {
	b := sess.Bridge
	t := &tracked{generation: b.Generation, pid: b.PID, start: b.PIDStartTime, adopted: true, done: make(chan struct{})}
	if !proc.Alive(b.PID, b.PIDStartTime) {
		s.buryUnwatched(ctx, sess, t)
		return
	}
	pfd, err := proc.OpenPidfd(b.PID, b.PIDStartTime)
	if err != nil {
		s.Logger.Warn("adopt bridge", "session", sess.Name, "pid", b.PID, "err", err)
		s.buryUnwatched(ctx, sess, t)
		return
	}
	s.Logger.Info("adopted bridge", "session", sess.Name, "generation", b.Generation, "pid", b.PID)
	s.track(sess.Name, t, func() (*int, string, bool) {
		defer pfd.Close()
		return nil, "", pfd.Wait(s.ctx)
	})
}

// buryUnwatched records a bridge that ended while no hub watched it. When its generation
// never became ready and reported no failure (the session is still starting or restarting:
// a server that failed would have made it crashed), it ended with the hub that started it,
// or for want of one: that is no server failure, and it must not count toward the restart
// policy (nor leave a never-ready session crashed for good). The next generation is
// requested at once, conditionally on that state, and the exit is recorded after it, for
// the log (about an older generation by then, it changes no state). Any other bridge
// found dead is recorded as exited: the session is crashed and the policy decides.
func (s *Supervisor) buryUnwatched(ctx context.Context, sess projector.Session, t *tracked) {
	const unknown = "not running when the hub looked (exit status unknown)"
	g := sess.Generation
	starting := func(cur projector.Session) bool {
		return cur.Generation == g && (cur.Status == projector.StatusStarting || cur.Status == projector.StatusRestarting) &&
			cur.Bridge != nil && cur.Bridge.PID == t.pid
	}
	if starting(sess) {
		e := events.New(events.KindRestartRequested, s.Node, sess.Name, g+1)
		e.Reason = fmt.Sprintf("generation %d's bridge (pid %d) ended before it was ready while no hub watched it: "+
			"it went with the hub that started it; started again, not counted as a crash", g, t.pid)
		if s.appendWhile(ctx, sess, e, starting) {
			s.Logger.Info("bridge lost with its hub before ready; starting the next generation", "session", sess.Name,
				"generation", g, "pid", t.pid)
			s.recordExit(sess.Name, t, nil, "", unknown+"; it never became ready")
			return
		}
	}
	s.recordExit(sess.Name, t, nil, "", unknown)
}

// stopStale tells bridges of older generations, or of a closed session, to go, if they have
// not gone by themselves within StopGrace.
func (s *Supervisor) stopStale(sess projector.Session) {
	s.mu.Lock()
	var stale []*tracked
	for key, t := range s.running {
		if !hasPrefix(key, sess.Name+"/") {
			continue
		}
		if !sess.IsOpen() || t.generation < sess.Generation {
			stale = append(stale, t)
		}
	}
	s.mu.Unlock()
	for _, t := range stale {
		t := t
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			select {
			case <-t.done:
			case <-s.ctx.Done():
			case <-time.After(s.StopGrace):
				s.Logger.Info("stale bridge still running; terminating it", "session", sess.Name, "pid", t.pid, "generation", t.generation)
				s.kill(t.pid, t.start, syscall.SIGTERM)
			}
		}()
	}
}

func (s *Supervisor) kill(pid int, start uint64, sig syscall.Signal) {
	if proc.Alive(pid, start) {
		_ = syscall.Kill(pid, sig)
	}
}

// policy applies the session's restart policy to a crashed session: a restart after a
// backoff, or failed when the burst limit is reached.
func (s *Supervisor) policy(ctx context.Context, sess projector.Session) {
	if sess.Restart == events.RestartNever || sess.Readies == 0 {
		return // never ready since created: connect reports the failure, nothing to restart
	}
	name := sess.Name
	now := s.Now()
	s.mu.Lock()
	if _, armed := s.timers[name]; armed {
		s.mu.Unlock()
		return
	}
	recent := s.crashes[name][:0:0]
	for _, t := range s.crashes[name] {
		if now.Sub(t) < s.BurstWindow {
			recent = append(recent, t)
		}
	}
	recent = append(recent, now)
	s.crashes[name] = recent
	n := len(recent)
	s.mu.Unlock()

	gen := sess.Generation
	if n > s.BurstLimit {
		e := events.New(events.KindFailed, s.Node, name, gen)
		e.Reason = fmt.Sprintf("restart policy %s: %d crashes within %s", sess.Restart, n, s.BurstWindow)
		s.appendWhile(ctx, sess, e, func(cur projector.Session) bool {
			return cur.Generation == gen && cur.Status == projector.StatusCrashed
		})
		return
	}
	delay := s.BackoffBase << (n - 1)
	if delay > s.BackoffMax || delay <= 0 {
		delay = s.BackoffMax
	}
	why := "bridge exited"
	if sess.LastExit != nil && sess.LastExit.Generation == gen {
		switch {
		case sess.LastExit.Code != nil:
			why = fmt.Sprintf("bridge exited with code %d", *sess.LastExit.Code)
		case sess.LastExit.Signal != "":
			why = "bridge killed by " + sess.LastExit.Signal
		}
	}
	if sess.Error != "" {
		why += ": " + sess.Error
	}
	s.mu.Lock()
	s.timers[name] = time.AfterFunc(delay, func() {
		s.mu.Lock()
		delete(s.timers, name)
		s.mu.Unlock()
		next, err := events.NextGeneration(gen)
		if err != nil {
			s.Logger.Error("restart policy", "session", name, "err", err)
			return
		}
		e := events.New(events.KindRestartRequested, s.Node, name, next)
		e.Reason = fmt.Sprintf("restart policy %s (crash %d in %s, after %s): %s", sess.Restart, n, s.BurstWindow, delay, why)
		s.appendWhile(s.ctx, sess, e, func(cur projector.Session) bool {
			return cur.Generation == gen && cur.Status == projector.StatusCrashed
		})
	})
	s.mu.Unlock()
}

// appendWhile appends e expecting the session's last sequence, as long as want holds for
// the session's current state (projector.Update: on a lost compare-and-set it folds the
// events it missed, read straight from the log so a lagging KV cannot mislead it, and
// decides again). It reports whether e was appended.
func (s *Supervisor) appendWhile(ctx context.Context, cur projector.Session, e events.Event, want func(projector.Session) bool) bool {
	ctx, cancel := context.WithTimeout(ctx, DefaultAppendBudget)
	defer cancel()
	_, seq, err := projector.Update(ctx, s.Log, cur, nil, func(cur projector.Session) (*events.Event, error) {
		if !want(cur) {
			return nil, nil
		}
		return &e, nil
	})
	if err != nil { // the append's error, or the refresh's after a conflict
		s.Logger.Error("append", "session", cur.Name, "type", e.Type, "err", err)
		return false
	}
	return seq != 0
}

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }
