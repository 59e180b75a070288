package projector

import (
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

var seedFlag = flag.Uint64("seed", 0, "seed of the randomized projector tests (0: from the clock)")

func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := *seedFlag
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed %d)", seed, seed)
	return seed
}

// gen produces random event streams that look like a real log's, with the damage a real
// log can carry: stale generations, redelivered events, retried publishes, unknown kinds,
// newer schema versions and garbage.
type gen struct {
	r      *rand.Rand
	seq    uint64
	gens   map[string]uint64 // the newest generation each session asked for, as writers see it
	sent   []events.Event
	names  []string
	kinds  []events.Kind
	nodes  []string
	minute time.Duration
}

func newGen(r *rand.Rand, sessions int) *gen {
	g := &gen{r: r, gens: map[string]uint64{}, kinds: events.Kinds(), nodes: []string{"n1", "n2"}}
	for i := range sessions {
		g.names = append(g.names, fmt.Sprintf("s%d", i))
	}
	return g
}

// next returns the next event delivered, in delivery order. A redelivery repeats an earlier
// event with its sequence; everything else gets a new, higher sequence.
func (g *gen) next() events.Event {
	r := g.r
	if len(g.sent) > 0 && r.IntN(20) == 0 {
		return g.sent[r.IntN(len(g.sent))] // redelivered: same event, same seq
	}
	var e events.Event
	switch n := r.IntN(100); {
	case n < 4 && len(g.sent) > 0: // a retried publish stored twice: same content, new seq
		e = g.sent[r.IntN(len(g.sent))]
	case n < 7: // garbage
		e = events.Event{V: r.IntN(4) - 1, Type: []events.Kind{"", "x", events.KindCreated, events.KindBridgeExited}[r.IntN(4)],
			Node: g.nodes[r.IntN(2)], Session: g.names[r.IntN(len(g.names))], Generation: r.Uint64N(4)}
		if r.IntN(3) == 0 {
			e.Node, e.Session = "bad name", ""
		}
		if r.IntN(2) == 0 {
			e.Server = &events.Server{}
		}
	default:
		node, name := g.nodes[r.IntN(2)], g.names[r.IntN(len(g.names))]
		key := Key(node, name)
		cur := g.gens[key]
		k := g.kinds[r.IntN(len(g.kinds))]
		if r.IntN(30) == 0 {
			k = "rebooted"
		}
		gen := cur
		switch r.IntN(6) {
		case 0:
			if cur > 0 {
				gen = cur - 1 - r.Uint64N(cur) // a stale generation (possibly 0)
			}
		case 1:
			gen = cur + 1
		}
		if k == events.KindCreated || k == events.KindRestartRequested {
			if r.IntN(4) != 0 {
				gen = cur + 1
			}
			if gen > cur {
				g.gens[key] = gen
			}
		}
		e = events.New(k, node, name, gen)
		e.Actor = events.Actor{PID: r.IntN(100)}
		if k == events.KindCreated && r.IntN(20) != 0 {
			e.Server = &events.Server{Transport: events.TransportStdio, Command: "srv", Args: []string{"a", "b"}[:r.IntN(3)]}
		}
		if r.IntN(4) == 0 {
			e.Restart = events.RestartAlways
		}
		e.PID = 1000 + r.IntN(3)
		if r.IntN(2) == 0 {
			c := r.IntN(3)
			e.Code = &c
		}
		e.Error = []string{"", "EOF", "404"}[r.IntN(3)]
		e.Reason = []string{"", "user", "policy"}[r.IntN(3)]
		if r.IntN(40) == 0 {
			e.V = events.SchemaVersion + 1
		}
	}
	g.seq += 1 + g.r.Uint64N(2) // gaps: other streams' subjects, or filtered events
	e.Seq = g.seq
	e.Time = time.Unix(1_700_000_000, 0).UTC().Add(time.Duration(e.Seq) * time.Millisecond)
	g.sent = append(g.sent, e)
	return e
}

// checkInvariants reports what is wrong with s after a step (prev is the state before).
func checkInvariants(prev, s Session, maxSeq uint64) []string {
	var bad []string
	if s.LastSeq != maxSeq {
		bad = append(bad, fmt.Sprintf("LastSeq %d, want the highest seq seen %d", s.LastSeq, maxSeq))
	}
	if s.Bridge != nil && s.Bridge.Generation != s.Generation {
		bad = append(bad, fmt.Sprintf("bridge of generation %d in generation %d", s.Bridge.Generation, s.Generation))
	}
	if s.Generation < prev.Generation {
		bad = append(bad, fmt.Sprintf("generation went back from %d to %d", prev.Generation, s.Generation))
	}
	if s.Status == StatusClosed && s.Bridge != nil {
		bad = append(bad, "a closed session has a bridge")
	}
	if s.Cleaned && (s.Status.Live() || s.Status == "") {
		bad = append(bad, fmt.Sprintf("cleaned with status %q", s.Status))
	}
	switch s.Status {
	case "", StatusStarting, StatusReady, StatusRestarting, StatusCrashed, StatusFailed, StatusExpired,
		StatusUnauthorized, StatusClosed:
	default:
		bad = append(bad, fmt.Sprintf("unknown status %q", s.Status))
	}
	if s.Status != "" && s.Generation == 0 {
		bad = append(bad, "a created session at generation 0")
	}
	return bad
}

func TestApplyRandom_Invariants(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	for run := range 500 {
		g := newGen(r, 1+r.IntN(3))
		var stream []events.Event
		for range 50 + r.IntN(250) {
			stream = append(stream, g.next())
		}
		states := map[string]Session{}
		maxSeq := map[string]uint64{}
		for i, e := range stream {
			key := Key(e.Node, e.Session)
			prev := states[key]
			s := applyNoPanic(t, prev, e)
			if e.Seq > maxSeq[key] {
				maxSeq[key] = e.Seq
			}
			if bad := checkInvariants(prev, s, maxSeq[key]); len(bad) > 0 {
				t.Fatalf("run %d, event %d (%s %s g%d seq %d) on %s %s g%d: %s", run, i, key, e.Type,
					e.Generation, e.Seq, key, prev.Status, prev.Generation, strings.Join(bad, "; "))
			}
			states[key] = s
		}
	}
}

func applyNoPanic(t *testing.T, s Session, e events.Event) (out Session) {
	t.Helper()
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("Apply panicked on %+v with %+v: %v", s, e, p)
		}
	}()
	return Apply(s, e)
}

func TestProjectionRandom_ReplayIsIdempotent(t *testing.T) {
	seed := testSeed(t)
	r := rand.New(rand.NewPCG(seed, 7))
	for run := range 200 {
		g := newGen(r, 1+r.IntN(6))
		var log []events.Event
		for range 100 + r.IntN(300) {
			if e := g.next(); len(log) == 0 || e.Seq > log[len(log)-1].Seq {
				log = append(log, e) // a log holds each seq once, in order
			}
		}
		all := foldSlice(NewProjection(), log)

		if d := foldSlice(NewProjection(), log).Equal(all); len(d) > 0 {
			t.Fatalf("run %d: two folds of the same log differ:\n  %s", run, strings.Join(d, "\n  "))
		}

		// Replaying the whole log over the result, as a follower does after a crash between
		// its session and position writes, changes nothing.
		again := roundTrip(t, all)
		again.Pos = 0
		foldSlice(again, log)
		if d := again.Equal(all); len(d) > 0 {
			t.Fatalf("run %d: replaying the log over its own fold changed it:\n  %s", run, strings.Join(d, "\n  "))
		}

		// A prefix, stored and loaded (as the KV does), then the rest, equals the whole.
		k := r.IntN(len(log) + 1)
		split := roundTrip(t, foldSlice(NewProjection(), log[:k]))
		// A crash after the sessions but before the position: the stored position is older
		// than the stored sessions, and the events between are read again.
		rest := log[k:]
		if k > 0 && r.IntN(2) == 0 {
			j := r.IntN(k)
			split.Pos = log[j].Seq
			rest = log[j+1:]
		}
		foldSlice(split, rest)
		if d := split.Equal(all); len(d) > 0 {
			t.Fatalf("run %d: prefix of %d then the rest differs from the whole:\n  %s", run, k, strings.Join(d, "\n  "))
		}
	}
}

func foldSlice(p *Projection, log []events.Event) *Projection {
	for _, e := range log {
		p.Apply(e)
	}
	return p
}

// roundTrip stores p's sessions as JSON and decodes them, as the KV does.
func roundTrip(t *testing.T, p *Projection) *Projection {
	t.Helper()
	out := NewProjection()
	out.Pos = p.Pos
	for k, s := range p.Sessions {
		data, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var back Session
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		out.Sessions[k] = back
	}
	return out
}
