package projector

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testNode    = "n1"
	testSession = "s"
)

// ev builds an event of kind k for generation g on n1.s. Seq 0 means "the next one" when
// it goes through history or the table runner.
func ev(k events.Kind, g uint64, mods ...func(*events.Event)) events.Event {
	e := events.Event{
		V: events.SchemaVersion, Type: k, Node: testNode, Session: testSession, Generation: g,
		Actor: events.Actor{PID: 42, User: "ann", Command: "mcpctl restart"},
	}
	switch k {
	case events.KindCreated:
		e.Server = &events.Server{Transport: events.TransportStdio, Command: "srv", Args: []string{"--x"}}
		e.Reason = "connect"
	case events.KindBridgeSpawned, events.KindBridgeExited:
		e.PID = 1000 + int(g)
		e.PIDStartTime = 77
		e.Socket = "/run/s." + strings.Repeat("1", int(g%5)+1) + ".sock"
	case events.KindBridgeReady:
		e.ServerName, e.ServerVersion, e.ProtocolVersion = "everything", "1.0", "2025-11-25"
	}
	for _, m := range mods {
		m(&e)
	}
	return e
}

func withSeq(seq uint64) func(*events.Event)    { return func(e *events.Event) { e.Seq = seq } }
func withPID(pid int) func(*events.Event)       { return func(e *events.Event) { e.PID = pid } }
func withError(msg string) func(*events.Event)  { return func(e *events.Event) { e.Error = msg } }
func withReason(why string) func(*events.Event) { return func(e *events.Event) { e.Reason = why } }
func withCode(code int) func(*events.Event)     { return func(e *events.Event) { e.Code = &code } }

// history folds events into one session, numbering those without a Seq after the last
// one and stamping times one second apart.
func history(evs ...events.Event) Session {
	var s Session
	for _, e := range evs {
		e = stamp(s, e)
		s = Apply(s, e)
	}
	return s
}

func stamp(s Session, e events.Event) events.Event {
	if e.Seq == 0 {
		e.Seq = s.LastSeq + 1
	}
	if e.Time.IsZero() {
		e.Time = t0.Add(time.Duration(e.Seq) * time.Second)
	}
	return e
}

// Histories the table starts from.
var (
	hStarting = []events.Event{ev(events.KindCreated, 1)}
	hSpawned  = append(hStarting[:1:1], ev(events.KindBridgeSpawned, 1))
	hReady    = append(hSpawned[:2:2], ev(events.KindBridgeReady, 1))
	hCrashed  = append(hReady[:3:3], ev(events.KindBridgeExited, 1, withCode(1)))
	hLost     = append(hReady[:3:3], ev(events.KindServerLost, 1, withError("EOF")))
	hExpired  = append(hReady[:3:3], ev(events.KindExpired, 1, withError("404")))
	hFailed   = append(hCrashed[:4:4], ev(events.KindFailed, 1, withReason("burst limit")))
	hClosed   = append(hReady[:3:3], ev(events.KindClosed, 1, withReason("user")))
	hClosedX  = append(hClosed[:4:4], ev(events.KindBridgeExited, 1, withCode(0)))
	hCleaned  = append(hClosedX[:5:5], ev(events.KindCleaned, 1))
	// generation 2 ready after a restart; generation 1's bridge has not been reaped yet.
	hRestarted = append(hReady[:3:3], ev(events.KindRestartRequested, 2, withReason("user")),
		ev(events.KindBridgeSpawned, 2), ev(events.KindBridgeReady, 2))
	hRestarting = append(hReady[:3:3], ev(events.KindRestartRequested, 2, withReason("user")))
)

type want func(before Session, e events.Event) Session

// unchanged: the event only advances LastSeq.
func unchanged(before Session, e events.Event) Session {
	before.LastSeq = e.Seq
	return before
}

// nothing: the event changes nothing at all, not even LastSeq.
func nothing(before Session, e events.Event) Session { return before }

// changes: the event applies f, advances LastSeq and sets Updated.
func changes(f func(s *Session, e events.Event)) want {
	return func(before Session, e events.Event) Session {
		s := before
		f(&s, e)
		s.LastSeq = e.Seq
		s.Updated = e.Time
		return s
	}
}

func TestApply(t *testing.T) {
	cases := []struct {
		name    string
		history []events.Event
		event   events.Event
		want    want
	}{
		// created
		{"created on a new session starts generation 1", nil, ev(events.KindCreated, 1),
			changes(func(s *Session, e events.Event) {
				*s = Session{Node: testNode, Name: testSession, Status: StatusStarting, Generation: 1,
					Server:  events.Server{Transport: events.TransportStdio, Command: "srv", Args: []string{"--x"}},
					Restart: events.RestartOnFailure, Reason: "connect", RequestedBy: e.Actor, RequestSeq: e.Seq, RequestedAt: e.Time, Fresh: true,
					Created: e.Time}
			})},
		{"created keeps an explicit restart policy", nil,
			ev(events.KindCreated, 1, func(e *events.Event) { e.Restart = events.RestartNever }),
			changes(func(s *Session, e events.Event) {
				*s = Session{Node: testNode, Name: testSession, Status: StatusStarting, Generation: 1,
					Server:  events.Server{Transport: events.TransportStdio, Command: "srv", Args: []string{"--x"}},
					Restart: events.RestartNever, Reason: "connect", RequestedBy: e.Actor, RequestSeq: e.Seq, RequestedAt: e.Time, Fresh: true,
					Created: e.Time}
			})},
		{"created on a ready session is ignored", hReady, ev(events.KindCreated, 2), unchanged},
		{"created on a crashed session is ignored", hCrashed, ev(events.KindCreated, 2), unchanged},
		{"created on a failed session is ignored", hFailed, ev(events.KindCreated, 2), unchanged},
		{"created after close reopens with a newer generation and resets counters", hClosedX,
			ev(events.KindCreated, 2, withReason("again")),
			changes(func(s *Session, e events.Event) {
				*s = Session{Node: testNode, Name: testSession, Status: StatusStarting, Generation: 2,
					Server:  events.Server{Transport: events.TransportStdio, Command: "srv", Args: []string{"--x"}},
					Restart: events.RestartOnFailure, Reason: "again", RequestedBy: e.Actor, RequestSeq: e.Seq, RequestedAt: e.Time, Fresh: true,
					Created: e.Time}
			})},
		{"created after cleaned reopens and is no longer cleaned", hCleaned, ev(events.KindCreated, 2),
			changes(func(s *Session, e events.Event) {
				*s = Session{Node: testNode, Name: testSession, Status: StatusStarting, Generation: 2,
					Server:  events.Server{Transport: events.TransportStdio, Command: "srv", Args: []string{"--x"}},
					Restart: events.RestartOnFailure, Reason: "connect", RequestedBy: e.Actor, RequestSeq: e.Seq, RequestedAt: e.Time, Fresh: true,
					Created: e.Time}
			})},
		{"created after close with an old generation is ignored", hClosed, ev(events.KindCreated, 1), unchanged},
		{"created without a server is ignored", nil,
			ev(events.KindCreated, 1, func(e *events.Event) { e.Server = nil }),
			func(_ Session, e events.Event) Session {
				return Session{Node: testNode, Name: testSession, LastSeq: e.Seq}
			}},
		{"created with generation 0 is ignored", nil, ev(events.KindCreated, 0),
			func(_ Session, e events.Event) Session {
				return Session{Node: testNode, Name: testSession, LastSeq: e.Seq}
			}},

		// restart_requested
		{"restart_requested for the next generation restarts a ready session", hReady,
			ev(events.KindRestartRequested, 2, withReason("user")),
			changes(func(s *Session, e events.Event) {
				s.Generation, s.Bridge, s.Status = 2, nil, StatusRestarting
				s.RequestSeq, s.RequestedAt, s.RequestedBy, s.Reason, s.Fresh = e.Seq, e.Time, e.Actor, "user", false
				s.Restarts = 1
				s.ReadyAt = time.Time{}
			})},
		{"restart_requested on a crashed session clears the error", hLost,
			ev(events.KindRestartRequested, 2),
			changes(func(s *Session, e events.Event) {
				s.Generation, s.Bridge, s.Status = 2, nil, StatusRestarting
				s.RequestSeq, s.RequestedAt, s.RequestedBy, s.Reason, s.Fresh = e.Seq, e.Time, e.Actor, "", false
				s.Restarts, s.Error, s.ReadyAt = 1, "", time.Time{}
			})},
		{"restart_requested on a failed session revives it", hFailed, ev(events.KindRestartRequested, 2),
			changes(func(s *Session, e events.Event) {
				s.Generation, s.Bridge, s.Status = 2, nil, StatusRestarting
				s.RequestSeq, s.RequestedAt, s.RequestedBy, s.Reason, s.Fresh = e.Seq, e.Time, e.Actor, "", false
				s.Restarts, s.Error, s.ReadyAt = 1, "", time.Time{}
			})},
		{"restart_requested for an older generation changes nothing", hRestarted,
			ev(events.KindRestartRequested, 1), unchanged},
		{"restart_requested for the current generation changes nothing", hRestarting,
			ev(events.KindRestartRequested, 2), unchanged},
		{"restart_requested on a closed session changes nothing", hClosed, ev(events.KindRestartRequested, 2), unchanged},
		{"restart_requested on a cleaned session changes nothing", hCleaned, ev(events.KindRestartRequested, 2), unchanged},
		{"restart_requested on a new session only advances the sequence", nil, ev(events.KindRestartRequested, 1),
			func(_ Session, e events.Event) Session {
				return Session{Node: testNode, Name: testSession, LastSeq: e.Seq}
			}},

		// bridge_spawned
		{"bridge_spawned for the current generation records the bridge", hStarting, ev(events.KindBridgeSpawned, 1),
			changes(func(s *Session, e events.Event) {
				s.Bridge = &Bridge{Generation: 1, PID: e.PID, PIDStartTime: 77, Socket: e.Socket, SpawnedSeq: e.Seq}
			})},
		{"bridge_spawned for an older generation changes nothing", hRestarting, ev(events.KindBridgeSpawned, 1), unchanged},
		{"bridge_spawned on a closed session changes nothing", hClosed, ev(events.KindBridgeSpawned, 1), unchanged},
		{"bridge_spawned after the generation's exit changes nothing", hCrashed, ev(events.KindBridgeSpawned, 1), unchanged},
		{"bridge_spawned after bridge_ready keeps the session ready",
			append(hStarting[:1:1], ev(events.KindBridgeReady, 1)), ev(events.KindBridgeSpawned, 1),
			changes(func(s *Session, e events.Event) {
				s.Bridge = &Bridge{Generation: 1, PID: e.PID, PIDStartTime: 77, Socket: e.Socket, SpawnedSeq: e.Seq}
			})},

		// bridge_ready
		{"bridge_ready makes the session ready with the server's info", hSpawned,
			ev(events.KindBridgeReady, 1, func(e *events.Event) { e.MCPSessionID = "abc" }),
			changes(func(s *Session, e events.Event) {
				s.Status, s.ReadyAt = StatusReady, e.Time
				s.Readies++
				s.ServerName, s.ServerVersion, s.ProtocolVersion, s.MCPSessionID = "everything", "1.0", "2025-11-25", "abc"
			})},
		{"bridge_ready before bridge_spawned is accepted", hStarting, ev(events.KindBridgeReady, 1),
			changes(func(s *Session, e events.Event) {
				s.Status, s.ReadyAt = StatusReady, e.Time
				s.Readies++
				s.ServerName, s.ServerVersion, s.ProtocolVersion = "everything", "1.0", "2025-11-25"
			})},
		{"bridge_ready after expired of the same generation re-readies", hExpired, ev(events.KindBridgeReady, 1),
			changes(func(s *Session, e events.Event) {
				s.Status, s.ReadyAt, s.Error = StatusReady, e.Time, ""
				s.Readies++
			})},
		{"bridge_ready for an older generation changes nothing", hRestarting, ev(events.KindBridgeReady, 1), unchanged},
		{"bridge_ready on a closed session changes nothing", hClosed, ev(events.KindBridgeReady, 1), unchanged},
		{"bridge_ready after failed changes nothing", hFailed, ev(events.KindBridgeReady, 1), unchanged},
		{"bridge_ready after its bridge exited changes nothing", hCrashed, ev(events.KindBridgeReady, 1), unchanged},

		// bridge_stopping
		{"bridge_stopping only advances the sequence", hReady, ev(events.KindBridgeStopping, 1, withReason("superseded")), unchanged},

		// bridge_exited
		{"bridge_exited of the current bridge crashes the session", hReady,
			ev(events.KindBridgeExited, 1, withCode(2), withReason("exit")),
			changes(func(s *Session, e events.Event) {
				code := 2
				s.Bridge, s.Status, s.Crashes = nil, StatusCrashed, 1
				s.LastExit = &Exit{Generation: 1, Code: &code, Time: e.Time, Reason: "exit"}
			})},
		{"bridge_exited by a signal records the signal", hReady,
			ev(events.KindBridgeExited, 1, func(e *events.Event) { e.Signal = "killed" }),
			changes(func(s *Session, e events.Event) {
				s.Bridge, s.Status, s.Crashes = nil, StatusCrashed, 1
				s.LastExit = &Exit{Generation: 1, Signal: "killed", Time: e.Time}
			})},
		{"bridge_exited of an older generation never changes a newer one", hRestarted,
			ev(events.KindBridgeExited, 1, withCode(0)), unchanged},
		{"bridge_exited of another process of the generation changes nothing", hReady,
			ev(events.KindBridgeExited, 1, withPID(4242)), unchanged},
		{"bridge_exited twice for the same generation is recorded once", hCrashed,
			ev(events.KindBridgeExited, 1, withCode(9)), unchanged},
		{"bridge_exited after close records the exit and stays closed", hClosed,
			ev(events.KindBridgeExited, 1, withCode(0)),
			changes(func(s *Session, e events.Event) {
				code := 0
				s.LastExit = &Exit{Generation: 1, Code: &code, Time: e.Time}
			})},
		{"bridge_exited after server_lost counts one crash", hLost, ev(events.KindBridgeExited, 1, withCode(1)),
			changes(func(s *Session, e events.Event) {
				code := 1
				s.Bridge = nil
				s.LastExit = &Exit{Generation: 1, Code: &code, Time: e.Time}
			})},
		{"bridge_exited after expired keeps expired", hExpired, ev(events.KindBridgeExited, 1, withCode(0)),
			changes(func(s *Session, e events.Event) {
				code := 0
				s.Bridge = nil
				s.LastExit = &Exit{Generation: 1, Code: &code, Time: e.Time}
			})},

		// server_lost, spawn_failed, expired, unauthorized, failed
		{"server_lost of the current generation crashes it and keeps the bridge", hReady,
			ev(events.KindServerLost, 1, withError("EOF")),
			changes(func(s *Session, e events.Event) { s.Status, s.Error, s.Crashes = StatusCrashed, "EOF", 1 })},
		{"server_lost of an older generation changes nothing", hRestarted, ev(events.KindServerLost, 1), unchanged},
		{"server_lost after failed changes nothing", hFailed, ev(events.KindServerLost, 1), unchanged},
		{"server_lost on a closed session changes nothing", hClosed, ev(events.KindServerLost, 1), unchanged},
		{"spawn_failed of the current generation crashes it", hRestarting,
			ev(events.KindSpawnFailed, 2, withError("exec: not found")),
			changes(func(s *Session, e events.Event) {
				s.Status, s.Error, s.Crashes = StatusCrashed, "exec: not found", 1
			})},
		{"spawn_failed of an older generation changes nothing", hRestarting, ev(events.KindSpawnFailed, 1), unchanged},
		{"expired of the current generation", hReady, ev(events.KindExpired, 1, withError("404")),
			changes(func(s *Session, e events.Event) { s.Status, s.Error = StatusExpired, "404" })},
		{"expired of an older generation changes nothing", hRestarted, ev(events.KindExpired, 1), unchanged},
		{"unauthorized of the current generation", hReady, ev(events.KindUnauthorized, 1, withError("401")),
			changes(func(s *Session, e events.Event) { s.Status, s.Error = StatusUnauthorized, "401" })},
		{"unauthorized on a closed session changes nothing", hClosed, ev(events.KindUnauthorized, 1), unchanged},
		{"failed of the current generation drops the bridge", hLost, ev(events.KindFailed, 1, withReason("burst limit")),
			changes(func(s *Session, e events.Event) { s.Status, s.Error, s.Bridge = StatusFailed, "burst limit", nil })},
		{"failed of an older generation changes nothing", hRestarted, ev(events.KindFailed, 1), unchanged},
		{"failed on a closed session changes nothing", hClosedX, ev(events.KindFailed, 1), unchanged},

		// closed
		{"closed ends a ready session and drops the bridge", hReady, ev(events.KindClosed, 1, withReason("user")),
			changes(func(s *Session, e events.Event) { s.Status, s.Bridge, s.Reason = StatusClosed, nil, "user" })},
		{"closed ends a crashed session", hCrashed, ev(events.KindClosed, 1),
			changes(func(s *Session, e events.Event) { s.Status, s.Reason = StatusClosed, "" })},
		{"closed twice changes nothing", hClosed, ev(events.KindClosed, 1), unchanged},
		{"closed on a cleaned session changes nothing", hCleaned, ev(events.KindClosed, 1), unchanged},
		{"closed on a new session only advances the sequence", nil, ev(events.KindClosed, 1),
			func(_ Session, e events.Event) Session {
				return Session{Node: testNode, Name: testSession, LastSeq: e.Seq}
			}},

		// cleaned
		{"cleaned hides a closed session", hClosedX, ev(events.KindCleaned, 1),
			changes(func(s *Session, e events.Event) { s.Cleaned = true })},
		{"cleaned hides a crashed session", hCrashed, ev(events.KindCleaned, 1),
			changes(func(s *Session, e events.Event) { s.Cleaned = true })},
		{"cleaned on a ready session is ignored", hReady, ev(events.KindCleaned, 1), unchanged},
		{"cleaned on a restarting session is ignored", hRestarting, ev(events.KindCleaned, 2), unchanged},
		{"cleaned twice changes nothing", hCleaned, ev(events.KindCleaned, 1), unchanged},

		// sequence and applicability
		{"a duplicate of the last event is a no-op", hReady, ev(events.KindBridgeReady, 1, withSeq(3)), nothing},
		{"a replayed older event is a no-op", hCrashed, ev(events.KindBridgeSpawned, 1, withSeq(2)), nothing},
		{"a replayed closed is a no-op", hReady, ev(events.KindClosed, 1, withSeq(1)), nothing},
		{"an unknown kind only advances the sequence", hReady, ev("rebooted", 1), unchanged},
		{"a newer schema version only advances the sequence", hReady,
			ev(events.KindClosed, 1, func(e *events.Event) { e.V = events.SchemaVersion + 1 }), unchanged},
		{"schema version 0 only advances the sequence", hReady,
			ev(events.KindClosed, 1, func(e *events.Event) { e.V = 0 }), unchanged},
		{"an undecodable event only advances the sequence", hReady,
			events.Event{Node: testNode, Session: testSession}, unchanged},
		{"an event about another session changes nothing", hReady,
			ev(events.KindClosed, 1, func(e *events.Event) { e.Session = "other" }), nothing},
		{"an event about another node changes nothing", hReady,
			ev(events.KindClosed, 1, func(e *events.Event) { e.Node = "n2" }), nothing},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := history(tc.history...)
			e := stamp(before, tc.event)
			got := Apply(before, e)
			want := tc.want(before, e)
			if d := DiffSessions(got, want); len(d) > 0 {
				t.Errorf("Apply(%s, %s g%d seq %d) (a: got, b: want):\n  %s", before.Status, e.Type, e.Generation, e.Seq,
					strings.Join(d, "\n  "))
			}
		})
	}

	t.Run("an event without a sequence is never applied", func(t *testing.T) {
		got := Apply(Session{}, ev(events.KindCreated, 1, func(e *events.Event) { e.Time = t0 }))
		if d := DiffSessions(got, Session{}); len(d) > 0 {
			t.Errorf("Apply(new, created seq 0): %v", d)
		}
	})
	t.Run("Apply never writes through its input's pointers", func(t *testing.T) {
		before := history(hReady...)
		bridge, readyBridge := before.Bridge, *before.Bridge
		_ = Apply(before, stamp(before, ev(events.KindBridgeSpawned, 1, withPID(5))))
		_ = Apply(before, stamp(before, ev(events.KindBridgeExited, 1)))
		if before.Bridge != bridge || *before.Bridge != readyBridge {
			t.Errorf("input bridge changed: got %+v, want %+v", *before.Bridge, readyBridge)
		}
	})
	t.Run("the session does not share the event's slices", func(t *testing.T) {
		e := stamp(Session{}, ev(events.KindCreated, 1))
		s := Apply(Session{}, e)
		e.Server.Args[0] = "changed"
		if s.Server.Args[0] != "--x" {
			t.Errorf("session args changed with the event's: %q", s.Server.Args)
		}
	})
	t.Run("a full restart cycle", func(t *testing.T) {
		s := history(append(hRestarted[:6:6], ev(events.KindBridgeExited, 1, withCode(0)))...)
		if s.Status != StatusReady || s.Generation != 2 || s.Bridge == nil || s.Bridge.Generation != 2 ||
			s.Restarts != 1 || s.Crashes != 0 || s.LastExit != nil || s.LastSeq != 7 {
			t.Errorf("after restart to g2 and g1's exit: %+v", s)
		}
	})
}

func TestApplicable(t *testing.T) {
	for _, tc := range []struct {
		e    events.Event
		want bool
	}{
		{ev(events.KindCreated, 1), true},
		{ev(events.KindCleaned, 1), true},
		{ev("rebooted", 1), false},
		{events.Event{}, false},
		{ev(events.KindClosed, 1, func(e *events.Event) { e.V = events.SchemaVersion + 1 }), false},
		{ev(events.KindClosed, 1, func(e *events.Event) { e.V = 0 }), false},
		{ev(events.KindClosed, 1, func(e *events.Event) { e.V = -3 }), false},
	} {
		if got := Applicable(tc.e); got != tc.want {
			t.Errorf("Applicable(%q v%d) = %v, want %v", tc.e.Type, tc.e.V, got, tc.want)
		}
	}
}

// TestApply_RestartWithAServerChangesTheConfig: a restart_requested that carries a server
// (connect with other --root or --sampling-command) gives the new generation that config;
// one without keeps the config.
func TestApply_RestartWithAServerChangesTheConfig(t *testing.T) {
	withAsks := func(roots ...string) func(*events.Event) {
		return func(e *events.Event) {
			srv := events.Server{Transport: events.TransportStdio, Command: "srv", Args: []string{"--x"}, Asks: &events.AskPolicy{Roots: roots}}
			e.Server = &srv
		}
	}
	s := history(ev(events.KindCreated, 1, withAsks("/a")), ev(events.KindRestartRequested, 2))
	if s.Server.Asks == nil || len(s.Server.Asks.Roots) != 1 || s.Server.Asks.Roots[0] != "/a" {
		t.Fatalf("a plain restart changed the config: %+v", s.Server.Asks)
	}
	s = history(ev(events.KindCreated, 1, withAsks("/a")), ev(events.KindRestartRequested, 2, withAsks("/b")))
	if s.Generation != 2 || s.Server.Asks == nil || s.Server.Asks.Roots[0] != "/b" || s.Server.Command != "srv" {
		t.Errorf("after a restart with roots /b: generation %d, server %+v asks %+v", s.Generation, s.Server, s.Server.Asks)
	}
	// A stale restart (an older generation) changes nothing.
	s2 := Apply(s, stamp(s, ev(events.KindRestartRequested, 2, withAsks("/c"))))
	if s2.Server.Asks.Roots[0] != "/b" {
		t.Errorf("a stale restart changed the config to %+v", s2.Server.Asks)
	}
}
