package projector

import (
	"slices"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// Applicable reports whether this build knows how to apply e: a known kind, with a schema
// version between 1 and events.SchemaVersion. Other events are skipped (and counted) rather
// than guessed at; they still advance the session's LastSeq.
func Applicable(e events.Event) bool {
	return e.Type.Known() && e.V >= 1 && e.V <= events.SchemaVersion
}

// IsOpen reports whether the session exists and was neither closed nor cleaned: live
// (starting, ready, restarting) or dead but still holding its name (crashed, failed,
// expired, unauthorized).
func (s Session) IsOpen() bool {
	return s.Status != "" && s.Status != StatusClosed && !s.Cleaned
}

// Apply returns s after event e. It is pure (s is never mutated: pointers inside it are
// replaced, never written through), never panics, and is the only definition of session
// state. The rules:
//
//   - Sequence. An event whose Seq is greater than s.LastSeq advances s.LastSeq, even when it
//     changes nothing else (a stale generation's event, an unknown kind, a newer schema):
//     LastSeq is the expectation of the next conditional append on the session. An event
//     with Seq <= s.LastSeq (a duplicate or a replay) changes nothing at all, so replay is
//     idempotent; an event without a sequence (Seq 0) is therefore never applied.
//   - Identity. Node and Name are taken from the first event; an event about another
//     node or session changes nothing (not even LastSeq): it is not this session's.
//   - Applicability. Unknown kinds and schema versions outside 1..events.SchemaVersion only
//     advance LastSeq (see Applicable).
//   - Updated is set to e.Time whenever an event changes anything besides LastSeq.
//   - "Open" means created and neither closed nor cleaned (see IsOpen). "Current" means
//     e.Generation == s.Generation. Events about an older generation never change a newer one.
//
// Per kind:
//
//   - created{g, server, restart} (re)opens the session when it is new, closed or cleaned,
//     and g is greater than every generation the name had before (a re-create after close
//     asks for s.Generation+1; a new name for 1): Generation g, no Bridge, Status starting,
//     Server, Restart (on-failure when empty), Created, RequestSeq, RequestedBy, Reason;
//     counters, error, last exit and server info reset, Cleaned false. Ignored on an open
//     session (the compare-and-set prevents it anyway), with g <= s.Generation (generations
//     never decrease), or without a server.
//   - restart_requested{g} on an open session with g > s.Generation: Generation g, no
//     Bridge, Status restarting (always, even when no earlier generation became ready:
//     starting is reserved for the generation a created asked for), RequestSeq,
//     RequestedBy, Reason, Restarts+1, Error and ReadyAt cleared. ServerName, ServerVersion,
//     ProtocolVersion and MCPSessionID are kept: they describe the server last seen (and the
//     HTTP session a new bridge may resume) until the new generation's bridge_ready
//     replaces them. Otherwise ignored.
//   - bridge_spawned{g, pid, pid_start_time, socket}, current and open, and g's bridge has
//     not exited yet: Bridge = {g, pid,
//     start time, socket, SpawnedSeq: e.Seq}. Status is unchanged (starting/restarting, or
//     ready when the bridge announced itself before the supervisor recorded the spawn).
//   - bridge_ready{g}, current and open, not failed, and g's bridge has not exited yet:
//     Status ready, ReadyAt, ServerName, ServerVersion, ProtocolVersion, MCPSessionID,
//     Error cleared. A missing Bridge is accepted (bridge_spawned may come later) and an
//     existing one kept. Also accepted after server_lost/expired/unauthorized of the same
//     generation: the bridge re-initialized its connection.
//   - bridge_stopping: informational, only LastSeq.
//   - bridge_exited{g, pid, code, signal}, current, unless the recorded bridge is another
//     process (a different pid) or this generation's exit was already recorded: Bridge
//     nil, LastExit {g, code, signal, time, reason}. If the session was live it becomes
//     crashed. On a closed or cleaned session the exit is recorded but Status is unchanged.
//     Older generations: only LastSeq.
//   - server_lost{g}, spawn_failed{g}, current, open and not failed: Status crashed, Error
//     (the bridge exits next; the supervisor's policy decides what then). spawn_failed also
//     clears Bridge.
//   - expired{g} / unauthorized{g}, current, open and not failed: Status expired /
//     unauthorized, Error. The bridge is kept until its exit is recorded.
//   - failed{g}, current and open: Status failed, Bridge nil, Error (e.Error, else e.Reason).
//   - closed (any generation) on an open session: Status closed, Bridge nil, Reason.
//     Ignored when the session is new, closed or cleaned.
//   - cleaned on a session that is not live and not new (closed, crashed, failed,
//     expired, unauthorized) and not already cleaned: Cleaned true, which hides it from
//     listings and frees the name. A cleaned on a live session is ignored.
//
// Crashes counts transitions into crashed (a bridge or server death nobody asked for);
// Restarts counts accepted restart requests. Both reset on created.
func Apply(s Session, e events.Event) Session {
	if e.Seq <= s.LastSeq {
		return s
	}
	if (s.Node != "" && s.Node != e.Node) || (s.Name != "" && s.Name != e.Session) {
		return s
	}
	s.Node, s.Name = e.Node, e.Session
	s.LastSeq = e.Seq
	if !Applicable(e) {
		return s
	}
	next, changed := transition(s, e)
	if changed {
		next.Updated = e.Time
	}
	return next
}

// transition applies a known, current-schema event to s (already a copy) and reports
// whether anything changed.
func transition(s Session, e events.Event) (Session, bool) {
	current := e.Generation == s.Generation
	switch e.Type {
	case events.KindCreated:
		if s.IsOpen() || e.Server == nil || e.Generation <= s.Generation {
			return s, false
		}
		restart := e.Restart
		if restart == "" {
			restart = events.RestartOnFailure
		}
		return Session{
			Node:        s.Node,
			Name:        s.Name,
			Status:      StatusStarting,
			Generation:  e.Generation,
			Server:      cloneServer(*e.Server),
			Restart:     restart,
			Reason:      e.Reason,
			RequestedBy: e.Actor,
			RequestSeq:  e.Seq,
			RequestedAt: e.Time,
			Fresh:       true,
			Created:     e.Time,
			LastSeq:     s.LastSeq,
		}, true

	case events.KindRestartRequested:
		if !s.IsOpen() || e.Generation <= s.Generation {
			return s, false
		}
		s.Generation = e.Generation
		if e.Server != nil {
			// A connect that changed how the session answers its server's asks (--root,
			// --sampling-command, --elicit): the new generation runs with the new config.
			s.Server = cloneServer(*e.Server)
		}
		s.Bridge = nil
		s.Status = StatusRestarting
		s.RequestSeq = e.Seq
		s.RequestedAt = e.Time
		s.Fresh = e.Fresh
		s.RequestedBy = e.Actor
		s.Reason = e.Reason
		s.Restarts++
		s.Error = ""
		s.ReadyAt = time.Time{}
		return s, true

	case events.KindBridgeSpawned:
		if !current || !s.IsOpen() || exitRecorded(s, e.Generation) {
			return s, false
		}
		s.Bridge = &Bridge{
			Generation:   e.Generation,
			PID:          e.PID,
			PIDStartTime: e.PIDStartTime,
			Socket:       e.Socket,
			SpawnedSeq:   e.Seq,
		}
		return s, true

	case events.KindBridgeReady:
		if !current || !s.IsOpen() || s.Status == StatusFailed || exitRecorded(s, e.Generation) {
			return s, false
		}
		s.Status = StatusReady
		s.ReadyAt = e.Time
		s.Readies++
		s.ServerName = e.ServerName
		s.ServerVersion = e.ServerVersion
		s.ProtocolVersion = e.ProtocolVersion
		s.MCPSessionID = e.MCPSessionID
		s.Error = ""
		return s, true

	case events.KindBridgeStopping:
		return s, false

	case events.KindBridgeExited:
		if !current || s.Status == "" || exitRecorded(s, e.Generation) {
			return s, false
		}
		if s.Bridge != nil && s.Bridge.PID != 0 && e.PID != 0 && s.Bridge.PID != e.PID {
			return s, false // another process of this generation; not the one we track
		}
		s.Bridge = nil
		s.LastExit = &Exit{
			Generation: e.Generation,
			Code:       cloneInt(e.Code),
			Signal:     e.Signal,
			Time:       e.Time,
			Reason:     e.Reason,
		}
		if s.IsOpen() && s.Status.Live() {
			s.Status = StatusCrashed
			s.Crashes++
		}
		return s, true

	case events.KindServerLost, events.KindSpawnFailed:
		if !current || !s.IsOpen() || s.Status == StatusFailed {
			return s, false
		}
		if s.Status != StatusCrashed {
			s.Crashes++
		}
		s.Status = StatusCrashed
		s.Error = e.Error
		if e.Type == events.KindSpawnFailed {
			s.Bridge = nil
		}
		return s, true

	case events.KindExpired, events.KindUnauthorized:
		if !current || !s.IsOpen() || s.Status == StatusFailed {
			return s, false
		}
		s.Status = StatusExpired
		if e.Type == events.KindUnauthorized {
			s.Status = StatusUnauthorized
		}
		s.Error = e.Error
		return s, true

	case events.KindFailed:
		if !current || !s.IsOpen() {
			return s, false
		}
		s.Status = StatusFailed
		s.Bridge = nil
		s.Error = e.Error
		if s.Error == "" {
			s.Error = e.Reason
		}
		return s, true

	case events.KindClosed:
		if !s.IsOpen() {
			return s, false
		}
		s.Status = StatusClosed
		s.Bridge = nil
		s.Reason = e.Reason
		return s, true

	case events.KindCleaned:
		if s.Status == "" || s.Status.Live() || s.Cleaned {
			return s, false
		}
		s.Cleaned = true
		return s, true
	}
	return s, false
}

// exitRecorded reports whether generation g's bridge exit is already in s: no bridge is
// recorded and the last exit is g's.
func exitRecorded(s Session, g uint64) bool {
	return s.Bridge == nil && s.LastExit != nil && s.LastExit.Generation == g
}

func cloneInt(p *int) *int {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// cloneServer copies the slices so that the session never shares memory with the event;
// empty slices become nil, as they would after a JSON round trip.
func cloneServer(s events.Server) events.Server {
	s.Args = cloneStrings(s.Args)
	s.HeaderNames = cloneStrings(s.HeaderNames)
	s.EnvNames = cloneStrings(s.EnvNames)
	return s
}

func cloneStrings(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return slices.Clone(s)
}
