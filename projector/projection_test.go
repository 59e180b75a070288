package projector

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// appendAll appends events to log unconditionally, stamping times, and returns their seqs.
func appendAll(t *testing.T, log events.Log, evs ...events.Event) []uint64 {
	t.Helper()
	var seqs []uint64
	for _, e := range evs {
		if e.Time.IsZero() {
			e.Time = t0.Add(time.Duration(len(seqs)) * time.Second)
		}
		seq, err := log.Append(context.Background(), e, events.Unconditional())
		if err != nil {
			t.Fatalf("append %s %s/%s: %v", e.Type, e.Node, e.Session, err)
		}
		seqs = append(seqs, seq)
	}
	return seqs
}

// on moves an event to another node and session.
func on(node, session string, e events.Event) events.Event {
	e.Node, e.Session = node, session
	return e
}

// sliceLog is a Log that serves a fixed slice of events (undecodable ones included) from
// Read; the other methods come from the embedded MemLog.
type sliceLog struct {
	*events.MemLog
	evs []events.Event
}

func (l sliceLog) Read(ctx context.Context, q events.Query, fn func(events.Event) error) error {
	for _, e := range l.evs {
		if q.Match(e) {
			if err := fn(e); err != nil {
				return err
			}
		}
	}
	return nil
}

func TestProjection(t *testing.T) {
	ctx := context.Background()
	log := events.NewMemLog()
	appendAll(t, log,
		on("n1", "b", ev(events.KindCreated, 1)),
		on("n1", "a", ev(events.KindCreated, 1)),
		on("n2", "a", ev(events.KindCreated, 1)),
		on("n1", "a", ev(events.KindBridgeSpawned, 1)),
		on("n1", "a", ev(events.KindBridgeReady, 1)),
		on("n1", "c", ev(events.KindCreated, 1)),
		on("n1", "c", ev(events.KindClosed, 1)),
		on("n1", "c", ev(events.KindCleaned, 1)),
	)

	t.Run("Fold applies every event and sets the position", func(t *testing.T) {
		p, err := Fold(ctx, log, events.Query{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Pos != 8 || len(p.Sessions) != 4 || p.Skipped != 0 {
			t.Fatalf("Fold: pos %d, %d sessions, %d skipped; want 8, 4, 0", p.Pos, len(p.Sessions), p.Skipped)
		}
		a, ok := p.Get("n1", "a")
		if !ok || a.Status != StatusReady || a.LastSeq != 5 {
			t.Errorf("Get(n1, a) = %v %+v, want ready at seq 5", ok, a)
		}
		if _, ok := p.Get("n1", "zz"); ok {
			t.Errorf("Get(n1, zz) found a session never seen")
		}
	})
	t.Run("List sorts by name, filters by node and hides cleaned sessions", func(t *testing.T) {
		p, _ := Fold(ctx, log, events.Query{}, nil)
		var got []string
		for _, s := range p.List("") {
			got = append(got, Key(s.Node, s.Name))
		}
		if strings.Join(got, " ") != "n1.a n2.a n1.b" {
			t.Errorf("List(\"\") = %v, want [n1.a n2.a n1.b]", got)
		}
		got = nil
		for _, s := range p.List("n1") {
			got = append(got, s.Name)
		}
		if strings.Join(got, " ") != "a b" {
			t.Errorf("List(n1) = %v, want [a b]", got)
		}
	})
	t.Run("Fold stops before the first event until selects", func(t *testing.T) {
		p, err := Fold(ctx, log, events.Query{}, func(e events.Event) bool { return e.Seq > 4 })
		if err != nil {
			t.Fatal(err)
		}
		a, _ := p.Get("n1", "a")
		if p.Pos != 4 || a.Status != StatusStarting || a.Bridge == nil {
			t.Errorf("Fold until seq 4: pos %d, n1.a %s bridge %v; want pos 4, starting with a bridge", p.Pos, a.Status, a.Bridge)
		}
		at := t0.Add(2 * time.Second) // the third event's time
		p, _ = Fold(ctx, log, events.Query{}, func(e events.Event) bool { return e.Time.After(at) })
		if p.Pos != 3 {
			t.Errorf("Fold until %s: pos %d, want 3", at, p.Pos)
		}
	})
	t.Run("Fold with a node query sees only that node", func(t *testing.T) {
		p, _ := Fold(ctx, log, events.Query{Node: "n2"}, nil)
		if len(p.Sessions) != 1 || p.Pos != 3 {
			t.Errorf("Fold(node n2): %d sessions at pos %d, want 1 at 3", len(p.Sessions), p.Pos)
		}
	})
	t.Run("Fold returns the log's error", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Fold(cctx, log, events.Query{}, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("Fold with a canceled context: err %v, want context.Canceled", err)
		}
	})
	t.Run("undecodable, unknown and newer events are skipped but advance their session", func(t *testing.T) {
		evs := []events.Event{
			on("n1", "a", ev(events.KindCreated, 1, withSeq(1))),
			{Seq: 2}, // undecodable, no subject known
			on("n1", "a", ev("rebooted", 1, withSeq(3))),
			on("n1", "b", ev(events.KindCreated, 1, withSeq(4), func(e *events.Event) { e.V = events.SchemaVersion + 1 })),
			{Seq: 5, Node: "n1", Session: "a"}, // undecodable payload on a known subject
		}
		p, err := Fold(ctx, sliceLog{events.NewMemLog(), evs}, events.Query{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := p.Get("n1", "a")
		b, okB := p.Get("n1", "b")
		if p.Skipped != 4 || p.Pos != 5 || a.LastSeq != 5 || a.Status != StatusStarting || !okB || b.Status != "" || b.LastSeq != 4 {
			t.Errorf("skipped %d pos %d, a: %s at %d, b: %v %q at %d; want 4 5, a starting at 5, b unapplied at 4",
				p.Skipped, p.Pos, a.Status, a.LastSeq, okB, b.Status, b.LastSeq)
		}
		if got := p.List(""); len(got) != 1 {
			t.Errorf("List shows %d sessions, want only the created one", len(got))
		}
	})
	t.Run("Apply ignores events at or before the position", func(t *testing.T) {
		p, _ := Fold(ctx, log, events.Query{}, nil)
		before, _ := p.Get("n1", "a")
		p.Apply(on("n1", "a", ev(events.KindClosed, 1, withSeq(2))))
		after, _ := p.Get("n1", "a")
		if after.Status != before.Status || p.Pos != 8 {
			t.Errorf("an old event changed the projection: %s -> %s, pos %d", before.Status, after.Status, p.Pos)
		}
	})
	t.Run("Equal lists the differences", func(t *testing.T) {
		a, _ := Fold(ctx, log, events.Query{}, nil)
		b, _ := Fold(ctx, log, events.Query{}, nil)
		if d := a.Equal(b); len(d) != 0 {
			t.Fatalf("two folds differ: %v", d)
		}
		s := b.Sessions["n1.a"]
		s.Status, s.Crashes = StatusCrashed, 2
		s.Updated = s.Updated.Add(time.Second)
		b.Sessions["n1.a"] = s
		delete(b.Sessions, "n2.a")
		b.Sessions["n3.x"] = Session{Node: "n3", Name: "x"}
		b.Pos = 9
		got := a.Equal(b)
		want := []string{"position:", "n1.a: Status:", "n1.a: Crashes:", "n1.a: Updated:", "n2.a: only in a", "n3.x: only in b"}
		if len(got) != len(want) {
			t.Fatalf("Equal = %q, want %d lines like %q", got, len(want), want)
		}
		for i := range want {
			if !strings.HasPrefix(got[i], want[i]) {
				t.Errorf("Equal line %d = %q, want it to start with %q", i, got[i], want[i])
			}
		}
	})
	t.Run("Equal compares times as instants", func(t *testing.T) {
		a, _ := Fold(ctx, log, events.Query{}, nil)
		b := roundTrip(t, a)
		s := b.Sessions["n1.a"]
		s.Created = s.Created.In(time.FixedZone("X", 3600))
		b.Sessions["n1.a"] = s
		if d := a.Equal(b); len(d) != 0 {
			t.Errorf("same instants in another zone differ: %v", d)
		}
	})
}
