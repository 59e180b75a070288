package session

import (
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

func TestGenerations_TellWhoRestartedAndHowEachBridgeEnded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var seq uint64
	ev := func(k events.Kind, g uint64, at time.Duration, edit func(*events.Event)) events.Event {
		seq++
		e := events.Event{V: 1, Type: k, Node: "n", Session: "s", Generation: g, Time: t0.Add(at), Seq: seq,
			Actor: events.Actor{PID: int(seq), Command: "cmd"}}
		if edit != nil {
			edit(&e)
		}
		return e
	}
	three := 3
	evs := []events.Event{
		ev(events.KindCreated, 1, 0, func(e *events.Event) { e.Reason = "connect" }),
		ev(events.KindBridgeSpawned, 1, 10*time.Millisecond, func(e *events.Event) { e.PID = 100 }),
		ev(events.KindBridgeReady, 1, 50*time.Millisecond, nil),
		ev(events.KindServerLost, 1, time.Second, func(e *events.Event) { e.Error = "exit status 7" }),
		ev(events.KindBridgeExited, 1, time.Second+time.Millisecond, func(e *events.Event) { e.Code = &three }),
		ev(events.KindRestartRequested, 2, 1100*time.Millisecond, func(e *events.Event) { e.Reason = "restart policy on-failure" }),
		ev(events.KindBridgeSpawned, 2, 1110*time.Millisecond, func(e *events.Event) { e.PID = 200 }),
		ev(events.KindBridgeReady, 2, 1200*time.Millisecond, nil),
		ev(events.KindRestartRequested, 3, 2*time.Second, func(e *events.Event) { e.Reason = "explicit: mcpctl restart" }),
		ev(events.KindBridgeStopping, 2, 2010*time.Millisecond, func(e *events.Event) { e.Reason = "superseded" }),
		ev(events.KindBridgeExited, 2, 2020*time.Millisecond, func(e *events.Event) { e.Signal = "killed" }),
	}
	gens := generations(evs, t0.Add(3*time.Second))
	if len(gens) != 3 {
		t.Fatalf("%d generations, want 3: %+v", len(gens), gens)
	}
	g1, g2, g3 := gens[0], gens[1], gens[2]
	if g1.Trigger != "connect" || g1.PID != 100 || g1.TimeToReady != 50*time.Millisecond || g1.ExitCode == nil || *g1.ExitCode != 3 ||
		len(g1.Problems) != 1 || g1.Lifetime != 951*time.Millisecond || g1.EndedBy != "restart_requested" {
		t.Errorf("generation 1 = %+v", g1)
	}
	if g2.Trigger != "policy" || g2.RequestedBy.PID != 6 || g2.Stopping != "superseded" || g2.Signal != "killed" || g2.Current {
		t.Errorf("generation 2 = %+v", g2)
	}
	if g3.Trigger != "explicit" || !g3.Current || g3.ReadyAt != (time.Time{}) || g3.Lifetime != 0 {
		t.Errorf("generation 3 = %+v", g3)
	}
}
