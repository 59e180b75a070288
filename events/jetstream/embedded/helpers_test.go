package embedded

import (
	"context"
	"testing"

	"github.com/mcpctl/mcpctl/events/jetstream"
)

const testToken = "test-token-0123456789abcdef"

// startServer opens a server on a fresh directory; opts adjust the knobs.
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

// openLog dials the server over TCP, like a client process, and returns its log.
func openLog(t testing.TB, s *Server) *jetstream.Log {
	t.Helper()
	nc, err := jetstream.Dial(context.Background(), s.ClientURL(), s.Token)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(nc.Close)
	l, err := jetstream.NewLog(context.Background(), nc)
	if err != nil {
		t.Fatalf("new log: %v", err)
	}
	return l
}
