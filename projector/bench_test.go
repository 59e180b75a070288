package projector

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// realisticLog appends n events about sessions sessions to a MemLog: sessions interleaved
// at random, each going through the lifecycles the hub sees (create, spawn, ready, restarts
// with the old bridge's exit after the new one's spawn, crashes, expiry, failure, close,
// clean and re-create).
func realisticLog(tb testing.TB, n, sessions int) *events.MemLog {
	tb.Helper()
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	log := events.NewMemLog()
	type sim struct {
		name    string
		gen     uint64
		pending []events.Event
	}
	sims := make([]*sim, sessions)
	for i := range sims {
		sims[i] = &sim{name: fmt.Sprintf("session-%03d", i)}
	}
	actor := events.Actor{PID: 4242, Host: "devbox", User: "ann", Command: "mcpctl restart"}
	mk := func(s *sim, k events.Kind, g uint64) events.Event {
		e := events.Event{V: events.SchemaVersion, Type: k, Node: "devbox", Session: s.name, Generation: g, Actor: actor}
		switch k {
		case events.KindCreated:
			e.Server = &events.Server{Transport: events.TransportStdio, Command: "npx",
				Args: []string{"-y", "@modelcontextprotocol/server-everything"}, EnvNames: []string{"API_KEY"}}
			e.Restart = events.RestartOnFailure
		case events.KindBridgeSpawned, events.KindBridgeExited:
			e.PID, e.PIDStartTime = 10000+int(g), 123456
			e.Socket = "/home/ann/.mcpctl/bridges/" + s.name + ".sock"
		case events.KindBridgeReady:
			e.ServerName, e.ServerVersion, e.ProtocolVersion = "everything", "2.0.0", "2025-11-25"
		case events.KindServerLost, events.KindExpired, events.KindUnauthorized, events.KindSpawnFailed:
			e.Error = "server went away"
		case events.KindServerAsked:
			e.Method, e.Action, e.DurationMS = "elicitation/create", "decline", 3
		case events.KindTaskCreated, events.KindTaskStatus, events.KindTaskFinished:
			e.TaskID, e.Tool = fmt.Sprintf("task-%d", g), "simulate-research-query"
			e.TaskStatus = map[events.Kind]string{events.KindTaskCreated: "working", events.KindTaskStatus: "working",
				events.KindTaskFinished: "completed"}[k]
		case events.KindTokenRefreshed:
			e.Profile, e.Origin, e.Scopes = "default", "https://mcp.example.com", []string{"read", "offline_access"}
			e.Expiry = time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
		}
		if k == events.KindBridgeExited {
			code := 1
			e.Code = &code
		}
		return e
	}
	// plan queues the next lifecycle chapter of s.
	plan := func(s *sim) {
		g := s.gen
		switch {
		case g == 0:
			s.gen = 1
			s.pending = append(s.pending, mk(s, events.KindCreated, 1), mk(s, events.KindBridgeSpawned, 1),
				mk(s, events.KindBridgeReady, 1))
			return
		}
		switch r.IntN(10) {
		case 0, 1, 2, 3: // restart: new generation, the old bridge stops and exits
			s.gen++
			s.pending = append(s.pending, mk(s, events.KindRestartRequested, g+1), mk(s, events.KindBridgeSpawned, g+1),
				mk(s, events.KindBridgeStopping, g), mk(s, events.KindBridgeExited, g), mk(s, events.KindBridgeReady, g+1))
		case 4, 5: // crash and supervisor restart
			s.gen++
			s.pending = append(s.pending, mk(s, events.KindServerLost, g), mk(s, events.KindBridgeExited, g),
				mk(s, events.KindRestartRequested, g+1), mk(s, events.KindBridgeSpawned, g+1), mk(s, events.KindBridgeReady, g+1))
		case 6: // expired or unauthorized, then a restart that fails to spawn and gives up, then a user restart
			kind := events.KindExpired
			if r.IntN(2) == 0 {
				kind = events.KindUnauthorized
			}
			s.gen += 2
			s.pending = append(s.pending, mk(s, kind, g), mk(s, events.KindBridgeExited, g),
				mk(s, events.KindRestartRequested, g+1), mk(s, events.KindSpawnFailed, g+1), mk(s, events.KindFailed, g+1),
				mk(s, events.KindRestartRequested, g+2), mk(s, events.KindBridgeSpawned, g+2), mk(s, events.KindBridgeReady, g+2))
		case 7: // close, clean, re-create
			s.gen++
			s.pending = append(s.pending, mk(s, events.KindClosed, g), mk(s, events.KindBridgeExited, g),
				mk(s, events.KindCleaned, g), mk(s, events.KindCreated, g+1), mk(s, events.KindBridgeSpawned, g+1),
				mk(s, events.KindBridgeReady, g+1))
		case 8: // the server asks something, answered by the session's policy; a token refresh; or a task
			switch r.IntN(3) {
			case 0:
				s.pending = append(s.pending, mk(s, events.KindServerAsked, g))
			case 1:
				s.pending = append(s.pending, mk(s, events.KindTokenRefreshed, g))
			default:
				s.pending = append(s.pending, mk(s, events.KindTaskCreated, g), mk(s, events.KindTaskStatus, g),
					mk(s, events.KindTaskFinished, g))
			}
		default: // a stale request that loses (recorded anyway, as an unconditional append would be)
			s.pending = append(s.pending, mk(s, events.KindRestartRequested, g), mk(s, events.KindBridgeStopping, g))
		}
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		s := sims[r.IntN(len(sims))]
		if len(s.pending) == 0 {
			plan(s)
		}
		e := s.pending[0]
		s.pending = s.pending[1:]
		e.Time = start.Add(time.Duration(i) * time.Millisecond)
		if _, err := log.Append(ctx, e, events.Unconditional()); err != nil {
			tb.Fatal(err)
		}
	}
	return log
}

// BenchmarkFold100k replays and folds 100k events about 400 sessions from a MemLog (the
// JetStream read is measured in events/jetstream). Target: ≤ 300 ms per op.
func BenchmarkFold100k(b *testing.B) {
	log := realisticLog(b, 100_000, 400)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := Fold(ctx, log, events.Query{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if p.Pos != 100_000 || len(p.Sessions) != 400 {
			b.Fatalf("fold: pos %d, %d sessions", p.Pos, len(p.Sessions))
		}
	}
}

// TestRealisticLog checks that the benchmark's log exercises what it claims: every kind,
// sessions in many states, nothing skipped, and the store round trip of its fold.
func TestRealisticLog(t *testing.T) {
	log := realisticLog(t, 20_000, 100)
	kinds := map[events.Kind]int{}
	_ = log.Read(context.Background(), events.Query{}, func(e events.Event) error { kinds[e.Type]++; return nil })
	for _, k := range events.Kinds() {
		if k == events.KindLoggedIn || k == events.KindLoggedOut {
			continue // about OAuth profiles, under events.ProfilesSession: no session's life
		}
		if kinds[k] == 0 {
			t.Errorf("no %s event in the realistic log", k)
		}
	}
	p, err := Fold(context.Background(), log, events.Query{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[Status]int{}
	for _, s := range p.Sessions {
		statuses[s.Status]++
		if s.Bridge != nil && s.Bridge.Generation != s.Generation {
			t.Errorf("%s: bridge of g%d in g%d", s.Name, s.Bridge.Generation, s.Generation)
		}
	}
	if p.Skipped != 0 || len(statuses) < 3 {
		t.Errorf("skipped %d, statuses %v: want nothing skipped and several statuses", p.Skipped, statuses)
	}
	if d := roundTrip(t, p).Equal(p); len(d) > 0 {
		t.Errorf("JSON round trip changed the fold: %v", d)
	}
}
