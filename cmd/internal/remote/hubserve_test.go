package remote

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}
func (b *syncBuffer) String() string { b.mu.Lock(); defer b.mu.Unlock(); return b.b.String() }

const testSecret = "sekrit-value-42"

// hubFixture is a real nats-server, a HubServer of node "na" on one connection, and a
// client on another.
type hubFixture struct {
	ns     *server.Server
	hub    *HubServer
	client Client
	dir    string
}

func newHubFixture(t *testing.T) *hubFixture {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	dial := func() *nats.Conn {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	dir := t.TempDir()
	sessions := map[string]projector.Session{
		"s":     {Name: "s", Node: "na", Status: projector.StatusReady, Server: events.Server{Remote: true}},
		"local": {Name: "local", Node: "na", Status: projector.StatusReady},
	}
	h := &HubServer{
		NC:   dial(),
		Node: "na",
		Lookup: func(name string) (projector.Session, bool) {
			s, ok := sessions[name]
			return s, ok
		},
		LogPath: func(name string) string { return filepath.Join(dir, name+".log") },
		Secrets: func(projector.Session) ([]string, error) { return []string{testSecret, "ab"}, nil },
	}
	if err := h.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return &hubFixture{ns: ns, hub: h, client: Client{NC: dial()}, dir: dir}
}

func (f *hubFixture) appendLog(t *testing.T, text string) {
	t.Helper()
	fh, err := os.OpenFile(filepath.Join(f.dir, "s.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func TestHubServer_Session(t *testing.T) {
	f := newHubFixture(t)
	ctx := context.Background()
	t.Run("a session opened with --remote", func(t *testing.T) {
		s, err := f.client.Session(ctx, "info", "na", "s")
		if err != nil || s.Name != "s" || !s.Server.Remote {
			t.Fatalf("Session(s@na) = %+v, %v", s, err)
		}
	})
	for name, kind := range map[string]string{"local": KindNotRemote, "nope": KindNotFound} {
		t.Run("refused: "+name, func(t *testing.T) {
			_, err := f.client.Session(ctx, "info", "na", name)
			var he *HubError
			if !errors.As(err, &he) || he.Kind != kind {
				t.Fatalf("Session(%s@na) = %v, want a %s refusal", name, err, kind)
			}
		})
	}
	t.Run("no hub of the node: exit 3 naming it", func(t *testing.T) {
		_, err := f.client.Session(ctx, "info", "nx", "s")
		if clierr.ExitCode(err) != clierr.ExitNetwork || !strings.Contains(err.Error(), "node nx") {
			t.Fatalf("Session(s@nx) = %v (exit %d), want exit 3 naming node nx", err, clierr.ExitCode(err))
		}
	})
	t.Run("logs of a session not opened with --remote", func(t *testing.T) {
		var out syncBuffer
		err := f.client.Logs(ctx, "na", "local", 0, false, &out)
		var he *HubError
		if !errors.As(err, &he) || he.Kind != KindNotRemote || out.String() != "" {
			t.Fatalf("Logs(local@na) = %v, printed %q", err, out.String())
		}
	})
}

func TestHubServer_LogsRedactsSecrets(t *testing.T) {
	f := newHubFixture(t)
	f.appendLog(t, "one\nheader X-Token: "+testSecret+"\nAuthorization: Bearer abcdef123456\nlast without newline "+testSecret)
	var out syncBuffer
	if err := f.client.Logs(context.Background(), "na", "s", 0, false, &out); err != nil {
		t.Fatal(err)
	}
	want := "one\nheader X-Token: [REDACTED]\nAuthorization: Bearer [REDACTED]\nlast without newline [REDACTED]"
	if out.String() != want {
		t.Errorf("logs:\n got %q\nwant %q", out.String(), want)
	}
	out = syncBuffer{}
	if err := f.client.Logs(context.Background(), "na", "s", 1, false, &out); err != nil || out.String() != "last without newline [REDACTED]" {
		t.Errorf("logs -n 1: %q, %v", out.String(), err)
	}
}

func TestHubServer_LogsFollowEndsWithTheClient(t *testing.T) {
	f := newHubFixture(t)
	f.appendLog(t, "before\n")
	// A first request sets up the connections' reply subscriptions (one per connection,
	// kept for its life): count from there.
	if err := f.client.Logs(context.Background(), "na", "s", 0, false, &syncBuffer{}); err != nil {
		t.Fatal(err)
	}
	baseline := f.ns.NumSubscriptions()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- f.client.Logs(ctx, "na", "s", 0, true, &out) }()
	testwait.For(t, 10*time.Second, func() error {
		if out.String() != "before\n" {
			return errors.New("printed " + out.String())
		}
		return nil
	})
	f.appendLog(t, "more "+testSecret+"\n")
	testwait.For(t, 10*time.Second, func() error {
		if out.String() != "before\nmore [REDACTED]\n" {
			return errors.New("printed " + out.String())
		}
		return nil
	})
	if n := f.hub.Streams(); n != 1 {
		t.Errorf("%d streams on the hub while following, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("a follow the client stops returns %v, want nil", err)
	}
	// The hub notices at its next keepalive at the latest, and ends the stream; nothing of
	// it is left subscribed on the server.
	testwait.For(t, 3*LogsKeepalive, func() error {
		if n := f.hub.Streams(); n != 0 {
			return errors.New("the hub still streams")
		}
		if n := f.ns.NumSubscriptions(); n > baseline {
			return errors.New("more subscriptions than before the follow")
		}
		return nil
	})
}

func TestHubServer_CloseEndsAFollow(t *testing.T) {
	f := newHubFixture(t)
	f.appendLog(t, "x\n")
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- f.client.Logs(context.Background(), "na", "s", 0, true, &out) }()
	testwait.For(t, 10*time.Second, func() error {
		if f.hub.Streams() != 1 {
			return errors.New("no stream yet")
		}
		return nil
	})
	if err := f.hub.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var he *HubError
		if !errors.As(err, &he) || he.Kind != KindFailed || !strings.Contains(err.Error(), "stopping") {
			t.Errorf("follow after the hub stopped: %v, want a failure saying the hub is stopping", err)
		}
	case <-time.After(2 * logsQuiet):
		t.Fatal("the follow did not end when the hub closed")
	}
}

// A line reaches the redactor whole: a secret written in two pieces is redacted.
func TestChunkSink_WaitsForWholeLines(t *testing.T) {
	var got []string
	c := &chunkSink{redact: NewRedactor([]string{testSecret}), deliver: func(ch LogsChunk) error {
		got = append(got, ch.Data)
		return nil
	}}
	for _, batch := range [][]string{{"a\n", "split sekrit-"}, {"value-42 done\n"}, {"tail sekrit-value-42"}} {
		if err := c.Lines(batch); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.flushPartial(); err != nil {
		t.Fatal(err)
	}
	want := []string{"a\n", "split [REDACTED] done\n", "tail [REDACTED]"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("chunks %q, want %q", got, want)
	}
}

// A chunk stays under the payload limit: a huge line is cut, after its secrets are redacted.
func TestChunkSink_CutsHugeLines(t *testing.T) {
	var got []string
	c := &chunkSink{redact: NewRedactor([]string{testSecret}), deliver: func(ch LogsChunk) error {
		got = append(got, ch.Data)
		return nil
	}}
	huge := testSecret + strings.Repeat("x", 3*maxChunk) + "\n"
	if err := c.Lines([]string{"small\n", huge, "after\n"}); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(got, "")
	if strings.Contains(all, testSecret) || !strings.HasPrefix(all, "small\n[REDACTED]xxx") || !strings.HasSuffix(all, " …[cut]\nafter\n") {
		t.Errorf("chunks start %.40q, end %q", all, all[max(0, len(all)-20):])
	}
	for i, ch := range got {
		if len(ch) > maxChunk+len(" …[cut]\n") {
			t.Errorf("chunk %d has %d bytes, over %d", i, len(ch), maxChunk)
		}
	}
}
