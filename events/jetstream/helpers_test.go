package jetstream

import (
	"context"
	"testing"

	"github.com/mcpctl/mcpctl/events"
)

const testToken = "test-token-0123456789abcdef"

// startServer opens an embedded server on a fresh directory; opts adjust the knobs.
func startServer(t testing.TB, opts ...func(*Server)) *Server {
	t.Helper()
	s := NewServer(t.TempDir())
	s.Token = testToken
	for _, o := range opts {
		o(s)
	}
	if err := s.Open(); err != nil {
		t.Fatalf("open server: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return s
}

func lazySync(s *Server) { s.SyncAlways = false }

// openLog dials the server over TCP, like a client process, and returns its log.
func openLog(t testing.TB, s *Server) *Log {
	t.Helper()
	nc, err := Dial(context.Background(), s.ClientURL(), s.Token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(nc.Close)
	l, err := NewLog(context.Background(), nc)
	if err != nil {
		t.Fatalf("new log: %v", err)
	}
	return l
}

func mustAppend(t testing.TB, l *Log, e events.Event, cond events.Expect) uint64 {
	t.Helper()
	seq, err := l.Append(context.Background(), e, cond)
	if err != nil {
		t.Fatalf("append %s @%s: %v", e.Type, e.Session, err)
	}
	return seq
}

func created(node, session string) events.Event {
	e := events.New(events.KindCreated, node, session, 1)
	e.Server = &events.Server{Transport: events.TransportStdio, Command: "true"}
	return e
}

func readAll(t testing.TB, l *Log, q events.Query) []events.Event {
	t.Helper()
	var out []events.Event
	if err := l.Read(context.Background(), q, func(e events.Event) error {
		out = append(out, e)
		return nil
	}); err != nil {
		t.Fatalf("read %+v: %v", q, err)
	}
	return out
}

func seqs(evs []events.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}
