package subscribe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/embedded"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/mcpctl/mcpctl/projector"
)

const testToken = "subscribe-test-token-0123456789"

// hub is an embedded server on a temp home with the address and token files a real hub
// writes, so that Connect finds it like any subscriber would.
type hub struct {
	srv  *embedded.Server
	home string
	log  *jetstream.Log // a writer's connection
}

func startHub(t testing.TB) *hub {
	t.Helper()
	home := t.TempDir()
	srv := embedded.NewServer(filepath.Join(home, "hub"))
	srv.Token = testToken
	if err := srv.Open(); err != nil {
		t.Fatalf("open server: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := os.WriteFile(filepath.Join(home, TokenFile), []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := jetstream.WriteAddress(filepath.Join(home, AddressFile), jetstream.Address{URL: srv.ClientURL(), PID: os.Getpid(), Build: "test"}); err != nil {
		t.Fatal(err)
	}
	nc, err := jetstream.Dial(context.Background(), srv.ClientURL(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	log, err := jetstream.NewLog(context.Background(), nc)
	if err != nil {
		t.Fatal(err)
	}
	return &hub{srv: srv, home: home, log: log}
}

func connect(t testing.TB, h *hub) *Client {
	t.Helper()
	c, err := Connect(context.Background(), Config{Home: h.home, Node: "n"})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// appendEv appends an event of kind k to a session, expecting nothing (tests of delivery
// do not race), and returns its sequence.
func (h *hub) appendEv(t testing.TB, session string, k events.Kind, gen uint64) uint64 {
	t.Helper()
	e := events.New(k, "n", session, gen)
	if k == events.KindCreated {
		e.Server = &events.Server{Transport: events.TransportStdio, Command: "srv"}
	}
	seq, err := h.log.Append(context.Background(), e, events.Unconditional())
	if err != nil {
		t.Fatalf("append %s: %v", k, err)
	}
	return seq
}

// collector gathers delivered events.
type collector struct {
	mu  sync.Mutex
	evs []events.Event
}

func (c *collector) handle(_ context.Context, e events.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evs = append(c.evs, e)
	return nil
}

func (c *collector) seqs() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]uint64, len(c.evs))
	for i, e := range c.evs {
		out[i] = e.Seq
	}
	return out
}

// run starts a subscription in the background; it is stopped at cleanup.
func run(t testing.TB, c *Client, sub Subscription, h Handler) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Subscribe(ctx, sub, h) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() { cancel(); err = <-done })
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

func wantSeqs(got func() []uint64, want []uint64) func() error {
	return func() error {
		g := got()
		if fmt.Sprint(g) != fmt.Sprint(want) {
			return fmt.Errorf("delivered %v, want %v", g, want)
		}
		return nil
	}
}

func TestConnect_WithoutHubFailsClearly(t *testing.T) {
	home := t.TempDir()
	_, err := Connect(context.Background(), Config{Home: home, Node: "n"})
	if !errors.Is(err, events.ErrNoHub) {
		t.Fatalf("Connect to an empty home: %v, want ErrNoHub", err)
	}
	if _, err := os.Stat(filepath.Join(home, TokenFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Connect created a token file (stat: %v)", err)
	}
}

func TestConnect_ExternalURL(t *testing.T) {
	h := startHub(t)
	c, err := Connect(context.Background(), Config{URL: h.srv.ClientURL(), Token: testToken, Node: "n"})
	if err != nil {
		t.Fatalf("connect by URL: %v", err)
	}
	defer c.Close()
	seq := h.appendEv(t, "a", events.KindCreated, 1)
	if head, err := c.Head(context.Background()); err != nil || head != seq {
		t.Fatalf("Head = %d, %v; want %d", head, err, seq)
	}
	if _, err := Connect(context.Background(), Config{URL: h.srv.ClientURL(), Token: "wrong", Node: "n"}); err == nil {
		t.Fatal("connect with a wrong token succeeded")
	}
}

func TestSubscribe_DeliversInOrderFromEachStart(t *testing.T) {
	h := startHub(t)
	c := connect(t, h)
	s1 := h.appendEv(t, "a", events.KindCreated, 1)
	s2 := h.appendEv(t, "b", events.KindCreated, 1)
	mid := time.Now()
	s3 := h.appendEv(t, "a", events.KindBridgeReady, 1)

	t.Run("from the beginning, then live", func(t *testing.T) {
		var got collector
		run(t, c, Subscription{}, got.handle)
		testwait.For(t, 5*time.Second, wantSeqs(got.seqs, []uint64{s1, s2, s3}))
		s4 := h.appendEv(t, "b", events.KindBridgeReady, 1)
		testwait.For(t, 5*time.Second, wantSeqs(got.seqs, []uint64{s1, s2, s3, s4}))
	})
	t.Run("after a sequence", func(t *testing.T) {
		var got collector
		run(t, c, Subscription{Start: AfterSeq(s2)}, got.handle)
		testwait.For(t, 5*time.Second, func() error {
			if g := got.seqs(); len(g) == 0 || g[0] != s3 {
				return fmt.Errorf("delivered %v, want it to start at %d", g, s3)
			}
			return nil
		})
	})
	t.Run("since a time", func(t *testing.T) {
		var got collector
		run(t, c, Subscription{Start: Since(mid)}, got.handle)
		testwait.For(t, 5*time.Second, func() error {
			if g := got.seqs(); len(g) == 0 || g[0] != s3 {
				return fmt.Errorf("delivered %v, want it to start at %d", g, s3)
			}
			return nil
		})
	})
	t.Run("new only", func(t *testing.T) {
		var got collector
		stop := run(t, c, Subscription{Start: New(), Filter: Filter{Sessions: []string{"a"}}}, got.handle)
		// Whether the subscription began before this append is unknown; the one after the
		// marker below is certain to be new.
		var next uint64
		testwait.For(t, 5*time.Second, func() error {
			next = h.appendEv(t, "a", events.KindBridgeStopping, 1)
			for _, s := range got.seqs() {
				if s == next {
					return nil
				}
			}
			return fmt.Errorf("not delivered yet")
		})
		stop()
		for _, s := range got.seqs() {
			if s <= s3 {
				t.Fatalf("New() delivered old event %d (%v)", s, got.seqs())
			}
		}
	})
}

func TestSubscribe_Filter(t *testing.T) {
	h := startHub(t)
	c := connect(t, h)
	h.appendEv(t, "a", events.KindCreated, 1)
	b1 := h.appendEv(t, "b", events.KindCreated, 1)
	h.appendEv(t, "c", events.KindCreated, 1)
	b2 := h.appendEv(t, "b", events.KindBridgeReady, 1)
	c2 := h.appendEv(t, "c", events.KindBridgeReady, 1)
	a2 := h.appendEv(t, "a", events.KindBridgeExited, 1)

	var bOnly, readyBC, exits collector
	run(t, c, Subscription{Filter: Filter{Sessions: []string{"b"}}}, bOnly.handle)
	run(t, c, Subscription{Filter: Filter{Sessions: []string{"b", "c"}, Kinds: []events.Kind{events.KindBridgeReady}}}, readyBC.handle)
	run(t, c, Subscription{Filter: Filter{Node: "n", Kinds: []events.Kind{events.KindBridgeExited}}}, exits.handle)
	testwait.For(t, 5*time.Second, wantSeqs(bOnly.seqs, []uint64{b1, b2}))
	testwait.For(t, 5*time.Second, wantSeqs(readyBC.seqs, []uint64{b2, c2}))
	testwait.For(t, 5*time.Second, wantSeqs(exits.seqs, []uint64{a2}))

	if err := c.Subscribe(context.Background(), Subscription{Filter: Filter{Sessions: []string{"no/slash"}}}, bOnly.handle); !errors.Is(err, events.ErrInvalidName) {
		t.Fatalf("bad session filter: %v, want ErrInvalidName", err)
	}
	if err := c.Subscribe(context.Background(), Subscription{Filter: Filter{Kinds: []events.Kind{"nope"}}}, bOnly.handle); !errors.Is(err, events.ErrInvalidEvent) {
		t.Fatalf("bad kind filter: %v, want ErrInvalidEvent", err)
	}
}

func TestSubscribe_HandlerErrorEndsItAndIsNotCheckpointed(t *testing.T) {
	h := startHub(t)
	c := connect(t, h)
	s1 := h.appendEv(t, "a", events.KindCreated, 1)
	s2 := h.appendEv(t, "a", events.KindBridgeReady, 1)
	boom := errors.New("boom")
	cp := &FileCheckpoint{Path: filepath.Join(t.TempDir(), "cp")}
	err := c.Subscribe(context.Background(), Subscription{Checkpoint: cp}, func(_ context.Context, e events.Event) error {
		if e.Seq == s2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Subscribe returned %v, want the handler's error", err)
	}
	if seq, ok, err := cp.Load(); err != nil || !ok || seq != s1 {
		t.Fatalf("checkpoint = %d %v %v, want %d (the failed event is not handled)", seq, ok, err, s1)
	}
}

func TestSubscribe_ResumesFromCheckpointWithoutGapsOrRepeats(t *testing.T) {
	h := startHub(t)
	c := connect(t, h)
	cp := &FileCheckpoint{Path: filepath.Join(t.TempDir(), "cp")}
	var all []uint64
	for i := range 5 {
		all = append(all, h.appendEv(t, fmt.Sprint("s", i%2), events.KindCreated, uint64(i+1)))
	}
	var first collector
	stop := run(t, c, Subscription{Checkpoint: cp}, first.handle)
	testwait.For(t, 5*time.Second, wantSeqs(first.seqs, all))
	stop()
	// Events appended while no subscriber runs.
	var missed []uint64
	for i := range 5 {
		missed = append(missed, h.appendEv(t, "s0", events.KindBridgeReady, uint64(i+1)))
	}
	var second collector
	run(t, c, Subscription{Checkpoint: cp, Start: FromBeginning()}, second.handle)
	testwait.For(t, 5*time.Second, wantSeqs(second.seqs, missed))
}

func TestSubscribe_SurvivesHubRestart(t *testing.T) {
	h := startHub(t)
	c := connect(t, h)
	s1 := h.appendEv(t, "a", events.KindCreated, 1)
	var got collector
	run(t, c, Subscription{}, got.handle)
	testwait.For(t, 5*time.Second, wantSeqs(got.seqs, []uint64{s1}))

	// Restart the server on the same store; the address file names its new port.
	if err := h.srv.Close(); err != nil {
		t.Fatal(err)
	}
	srv := embedded.NewServer(h.srv.Dir)
	srv.Token = testToken
	if err := srv.Open(); err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	if err := jetstream.WriteAddress(filepath.Join(h.home, AddressFile), jetstream.Address{URL: srv.ClientURL(), PID: os.Getpid(), Build: "test"}); err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	nc, err := jetstream.Dial(context.Background(), srv.ClientURL(), testToken)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if h.log, err = jetstream.NewLog(context.Background(), nc); err != nil {
		t.Fatal(err)
	}
	s2 := h.appendEv(t, "a", events.KindBridgeReady, 1)
	testwait.For(t, 15*time.Second, wantSeqs(got.seqs, []uint64{s1, s2}))
}

func TestClient_RestartAndCloseUseTheConditionalPath(t *testing.T) {
	h := startHub(t)
	c := connect(t, h)
	ctx := context.Background()
	h.appendEv(t, "a", events.KindCreated, 1)
	h.appendEv(t, "a", events.KindBridgeReady, 1)

	// Parallel requests: exactly one restart_requested is appended, the others join it.
	const n = 8
	var wg sync.WaitGroup
	started := make(chan bool, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, ok, err := c.Restart(ctx, "a", "test")
			if err != nil || s.Generation != 2 {
				t.Errorf("Restart: gen %d err %v, want gen 2", s.Generation, err)
			}
			started <- ok
		}()
	}
	wg.Wait()
	close(started)
	wins := 0
	for ok := range started {
		if ok {
			wins++
		}
	}
	if wins != 1 {
		t.Fatalf("%d callers started a restart, want exactly 1", wins)
	}
	s, closed, err := c.CloseSession(ctx, "a", "test done")
	if err != nil || !closed || s.Status != projector.StatusClosed {
		t.Fatalf("CloseSession: status %s closed %v err %v", s.Status, closed, err)
	}
	if _, _, err := c.Restart(ctx, "a", "again"); !errors.Is(err, events.ErrClosed) {
		t.Fatalf("Restart after close: %v, want ErrClosed", err)
	}
	if _, _, err := c.Restart(ctx, "never", "x"); !errors.Is(err, events.ErrNotFound) {
		t.Fatalf("Restart of an unknown session: %v, want ErrNotFound", err)
	}
}
