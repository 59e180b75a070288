package jetstream

import (
	"context"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

const testToken = "test-token-0123456789abcdef"

// testServer is a JetStream server with the streams and the bucket ensured, as a hub's
// server would have them. The hub's own server (events/jetstream/embedded) imports this
// package, so its tests are there and these use jstest's plain server.
type testServer struct {
	*jstest.Server
	SyncAlways bool
	Streams    StreamConfig
}

// startServer starts a server on a fresh directory; opts adjust the knobs.
func startServer(t testing.TB, opts ...func(*testServer)) *testServer {
	t.Helper()
	s := &testServer{SyncAlways: true, Streams: DefaultStreamConfig()}
	for _, o := range opts {
		o(s)
	}
	s.Server = jstest.StartServer(t, testToken, s.SyncAlways)
	nc, err := nats.Connect("", nats.InProcessServer(s.NS), nats.Token(s.Token))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer nc.Close()
	js, err := njs.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	if err := EnsureStreams(context.Background(), js, s.Streams); err != nil {
		t.Fatalf("ensure streams: %v", err)
	}
	return s
}

func lazySync(s *testServer) { s.SyncAlways = false }

// NATS is the server, for in-process connections.
func (s *testServer) NATS() *server.Server { return s.NS }

// openLog dials the server over TCP, like a client process, and returns its log.
func openLog(t testing.TB, s *testServer) *Log {
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
