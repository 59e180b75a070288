package jstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Server is one JetStream-enabled nats-server on loopback inside the test process, for tests
// of the client side (events/jetstream), which cannot import the hub's own server
// (events/jetstream/embedded imports them). It has no store lock and no limits of its own.
type Server struct {
	NS    *server.Server
	Token string
}

// StartServer starts a server on a fresh directory and stops it when the test ends.
// syncAlways fsyncs every write before it is acknowledged, as the hub does by default.
func StartServer(t testing.TB, token string, syncAlways bool) *Server {
	t.Helper()
	ns, err := server.NewServer(&server.Options{
		Host:            "127.0.0.1",
		Port:            server.RANDOM_PORT,
		Authorization:   token,
		JetStream:       true,
		StoreDir:        t.TempDir(),
		NoSigs:          true,
		NoLog:           true,
		NoSystemAccount: true,
		MaxPayload:      8 << 20,
		SyncAlways:      syncAlways,
	})
	if err != nil {
		t.Fatalf("jstest: new server: %v", err)
	}
	ns.Start()
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("jstest: server not ready after 10s")
	}
	return &Server{NS: ns, Token: token}
}

// ClientURL is the nats:// URL clients dial.
func (s *Server) ClientURL() string { return s.NS.ClientURL() }
