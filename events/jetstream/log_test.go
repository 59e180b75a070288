package jetstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
	"github.com/mcpctl/mcpctl/events/testwait"
)

func TestAppend_ConditionalWinsAndLoses(t *testing.T) {
	l := openLog(t, startServer(t))
	ctx := context.Background()

	s1 := jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	if got, err := l.LastSeq(ctx, "n1", "a"); err != nil || got != s1 {
		t.Fatalf("LastSeq(a) = %d, %v; want %d", got, err, s1)
	}
	t.Run("stale expectation loses", func(t *testing.T) {
		_, err := l.Append(ctx, jstest.Created("n1", "a"), events.After(0))
		if !errors.Is(err, events.ErrConflict) {
			t.Fatalf("append expecting 0 after seq %d: err = %v, want ErrConflict", s1, err)
		}
		var se *events.SessionError
		if !errors.As(err, &se) || se.Session != "a" {
			t.Fatalf("error %v is not a SessionError for @a", err)
		}
	})
	t.Run("current expectation wins", func(t *testing.T) {
		s2 := jstest.MustAppend(t, l, events.New(events.KindRestartRequested, "n1", "a", 2), events.After(s1))
		if s2 <= s1 {
			t.Fatalf("seq %d after %d", s2, s1)
		}
		if _, err := l.Append(ctx, events.New(events.KindRestartRequested, "n1", "a", 2), events.After(s1)); !errors.Is(err, events.ErrConflict) {
			t.Fatalf("second append expecting %d: err = %v, want ErrConflict", s1, err)
		}
	})
	t.Run("expecting a future sequence loses", func(t *testing.T) {
		if _, err := l.Append(ctx, events.New(events.KindClosed, "n1", "a", 2), events.After(1000)); !errors.Is(err, events.ErrConflict) {
			t.Fatalf("err = %v, want ErrConflict", err)
		}
	})
	t.Run("unconditional always lands", func(t *testing.T) {
		jstest.MustAppend(t, l, events.New(events.KindBridgeExited, "n1", "a", 1), events.Unconditional())
	})
}

func TestAppend_CompareAndSetIsPerSession(t *testing.T) {
	l := openLog(t, startServer(t))
	ctx := context.Background()
	a1 := jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	// Session b (and a's namesake on another node, and a session whose name extends a's)
	// move on; a's expectation must still hold.
	b1 := jstest.MustAppend(t, l, jstest.Created("n1", "b"), events.After(0))
	jstest.MustAppend(t, l, events.New(events.KindRestartRequested, "n1", "b", 2), events.After(b1))
	jstest.MustAppend(t, l, jstest.Created("n2", "a"), events.After(0))
	jstest.MustAppend(t, l, jstest.Created("n1", "a-2"), events.After(0))
	jstest.MustAppend(t, l, jstest.Created("n1", "ab"), events.After(0))

	if got, _ := l.LastSeq(ctx, "n1", "a"); got != a1 {
		t.Fatalf("LastSeq(n1, a) = %d after appends to other sessions, want %d", got, a1)
	}
	a2 := jstest.MustAppend(t, l, events.New(events.KindRestartRequested, "n1", "a", 2), events.After(a1))
	// And the other kinds of a session count: the filter spans all of them.
	if _, err := l.Append(ctx, events.New(events.KindClosed, "n1", "a", 2), events.After(a1)); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("close expecting %d after restart_requested %d: err = %v, want ErrConflict", a1, a2, err)
	}
	if got, _ := l.LastSeq(ctx, "n1", "never"); got != 0 {
		t.Fatalf("LastSeq of an unused session = %d, want 0", got)
	}
}

func TestAppend_MsgIDDeduplicates(t *testing.T) {
	l := openLog(t, startServer(t))
	ctx := context.Background()
	t.Run("conditional retry returns the original sequence", func(t *testing.T) {
		cond := events.Expect{LastSeq: 0, MsgID: "create-x-1"}
		s1 := jstest.MustAppend(t, l, jstest.Created("n1", "x"), cond)
		s2, err := l.Append(ctx, jstest.Created("n1", "x"), cond)
		if err != nil || s2 != s1 {
			t.Fatalf("retry = %d, %v; want %d, nil", s2, err, s1)
		}
		// Even when other events of the session came after it.
		s3 := jstest.MustAppend(t, l, events.New(events.KindBridgeSpawned, "n1", "x", 1), events.After(s1))
		s4, err := l.Append(ctx, jstest.Created("n1", "x"), cond)
		if err != nil || s4 != s1 {
			t.Fatalf("retry after seq %d = %d, %v; want %d, nil", s3, s4, err, s1)
		}
		if got := len(jstest.ReadAll(t, l, events.Query{Session: "x", Kinds: []events.Kind{events.KindCreated}})); got != 1 {
			t.Fatalf("%d created events stored, want 1", got)
		}
	})
	t.Run("unconditional retry returns the original sequence", func(t *testing.T) {
		cond := events.Expect{Any: true, MsgID: "exit-y-1"}
		s1 := jstest.MustAppend(t, l, events.New(events.KindBridgeExited, "n1", "y", 1), cond)
		s2 := jstest.MustAppend(t, l, events.New(events.KindBridgeExited, "n1", "y", 1), cond)
		if s2 != s1 {
			t.Fatalf("retry = %d, want %d", s2, s1)
		}
	})
	t.Run("same id of another writer that lost is a conflict", func(t *testing.T) {
		s1 := jstest.MustAppend(t, l, jstest.Created("n1", "z"), events.After(0))
		_, err := l.Append(ctx, events.New(events.KindClosed, "n1", "z", 1), events.Expect{LastSeq: 0, MsgID: "other"})
		if !errors.Is(err, events.ErrConflict) {
			t.Fatalf("append expecting 0 after %d with a new id: err = %v, want ErrConflict", s1, err)
		}
	})
}

func TestAppend_InvalidEventStoresNothing(t *testing.T) {
	l := openLog(t, startServer(t))
	ctx := context.Background()
	cases := map[string]struct {
		e    events.Event
		want error
	}{
		"bad session":       {events.New(events.KindClosed, "n1", "a.b", 1), events.ErrInvalidName},
		"wildcard session":  {events.New(events.KindClosed, "n1", ">", 1), events.ErrInvalidName},
		"bad node":          {events.New(events.KindClosed, "n 1", "a", 1), events.ErrInvalidName},
		"unknown kind":      {events.New("exploded", "n1", "a", 1), events.ErrInvalidEvent},
		"created no server": {events.New(events.KindCreated, "n1", "a", 1), events.ErrInvalidEvent},
		"no version":        {events.Event{Type: events.KindClosed, Node: "n1", Session: "a", Time: time.Now()}, events.ErrInvalidEvent},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := l.Append(ctx, c.e, events.Unconditional()); !errors.Is(err, c.want) {
				t.Fatalf("append %+v: err = %v, want %v", c.e, err, c.want)
			}
		})
	}
	if h, err := l.Head(ctx); err != nil || h != 0 {
		t.Fatalf("Head = %d, %v after invalid appends; want 0", h, err)
	}
}

func TestIsConflict_MatchesCodesNotText(t *testing.T) {
	cases := []struct {
		err  error
		want bool
	}{
		{&njs.APIError{Code: 400, ErrorCode: 10071, Description: "anything"}, true},
		{&njs.APIError{Code: 400, ErrorCode: 10164, Description: "anything"}, true},
		{fmt.Errorf("wrapped: %w", &njs.APIError{ErrorCode: 10071}), true},
		{&njs.APIError{Code: 400, ErrorCode: 10059, Description: "wrong last sequence"}, false},
		{errors.New("wrong last sequence: 5"), false},
	}
	for _, c := range cases {
		if got := isConflict(c.err); got != c.want {
			t.Errorf("isConflict(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestRead_Filters(t *testing.T) {
	l := openLog(t, startServer(t))
	var all []uint64
	var aSeqs []uint64
	var last = map[string]uint64{}
	for i := range 10 {
		sess := []string{"a", "b"}[i%2]
		var e events.Event
		if last[sess] == 0 {
			e = jstest.Created("n1", sess)
		} else {
			e = events.New(events.KindBridgeReady, "n1", sess, 1)
		}
		seq := jstest.MustAppend(t, l, e, events.After(last[sess]))
		last[sess] = seq
		all = append(all, seq)
		if sess == "a" {
			aSeqs = append(aSeqs, seq)
		}
	}
	jstest.MustAppend(t, l, jstest.Created("n2", "a"), events.After(0))

	t.Run("everything", func(t *testing.T) {
		if got := jstest.ReadAll(t, l, events.Query{}); len(got) != 11 {
			t.Fatalf("read all: %d events, want 11", len(got))
		}
	})
	t.Run("session", func(t *testing.T) {
		got := jstest.ReadAll(t, l, events.Query{Node: "n1", Session: "a"})
		if !slices.Equal(jstest.Seqs(got), aSeqs) {
			t.Fatalf("session a: %v, want %v", jstest.Seqs(got), aSeqs)
		}
		for _, e := range got {
			if e.Session != "a" || e.Node != "n1" || e.Seq == 0 {
				t.Fatalf("session a read %+v", e)
			}
		}
	})
	t.Run("session on any node", func(t *testing.T) {
		if got := jstest.ReadAll(t, l, events.Query{Session: "a"}); len(got) != 6 {
			t.Fatalf("session a on any node: %d events, want 6", len(got))
		}
	})
	t.Run("after seq", func(t *testing.T) {
		got := jstest.ReadAll(t, l, events.Query{Node: "n1", AfterSeq: all[6]})
		if !slices.Equal(jstest.Seqs(got), all[7:]) {
			t.Fatalf("after %d: %v, want %v", all[6], jstest.Seqs(got), all[7:])
		}
	})
	t.Run("after the end", func(t *testing.T) {
		if got := jstest.ReadAll(t, l, events.Query{AfterSeq: 1000}); len(got) != 0 {
			t.Fatalf("after 1000: %v", jstest.Seqs(got))
		}
	})
	t.Run("kinds", func(t *testing.T) {
		got := jstest.ReadAll(t, l, events.Query{Node: "n1", Kinds: []events.Kind{events.KindCreated}})
		if len(got) != 2 || got[0].Type != events.KindCreated {
			t.Fatalf("created on n1: %v", got)
		}
	})
	t.Run("since", func(t *testing.T) {
		// Every earlier append was acknowledged before this instant, so each was stamped
		// before it; the next one is stamped after.
		mark := time.Now()
		s := jstest.MustAppend(t, l, events.New(events.KindClosed, "n1", "b", 1), events.After(last["b"]))
		got := jstest.ReadAll(t, l, events.Query{Since: mark})
		if !slices.Equal(jstest.Seqs(got), []uint64{s}) {
			t.Fatalf("since %s: %v, want [%d]", mark, jstest.Seqs(got), s)
		}
		if got := jstest.ReadAll(t, l, events.Query{Since: time.Now().Add(time.Hour)}); len(got) != 0 {
			t.Fatalf("since the future: %v", jstest.Seqs(got))
		}
		// Both bounds: the later wins.
		if got := jstest.ReadAll(t, l, events.Query{Since: time.Time{}.Add(1), AfterSeq: s - 1}); !slices.Equal(jstest.Seqs(got), []uint64{s}) {
			t.Fatalf("since zero+1, after %d: %v", s-1, jstest.Seqs(got))
		}
	})
	t.Run("no match before the head", func(t *testing.T) {
		if got := jstest.ReadAll(t, l, events.Query{Node: "n3"}); len(got) != 0 {
			t.Fatalf("node n3: %v", got)
		}
	})
	t.Run("fn error stops", func(t *testing.T) {
		stop := errors.New("stop")
		n := 0
		err := l.Read(context.Background(), events.Query{}, func(events.Event) error { n++; return stop })
		if !errors.Is(err, stop) || n != 1 {
			t.Fatalf("Read = %v after %d calls, want stop after 1", err, n)
		}
	})
}

func TestRead_UndecodablePayloadIsPassedOn(t *testing.T) {
	s := startServer(t)
	l := openLog(t, s)
	ok := jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	if err := l.nc.Publish(events.Subject("n1", "a", events.KindBridgeReady), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := l.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 5*time.Second, func() error {
		if h, _ := l.Head(context.Background()); h != ok+1 {
			return fmt.Errorf("head %d", h)
		}
		return nil
	})
	got := jstest.ReadAll(t, l, events.Query{Session: "a", Kinds: []events.Kind{events.KindCreated}})
	if len(got) != 2 || got[1].Type != "" || got[1].Seq != ok+1 || got[1].Session != "a" {
		t.Fatalf("read %+v; want created then an undecodable event with seq %d", got, ok+1)
	}
}

func TestRead_TerminatesWhileAppendsContinue(t *testing.T) {
	l := openLog(t, startServer(t, lazySync))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 200 {
		jstest.MustAppend(t, l, events.New(events.KindBridgeReady, "n1", "a", 1), events.Unconditional())
	}
	head, _ := l.Head(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			_, _ = l.Append(ctx, events.New(events.KindBridgeReady, "n1", "a", 1), events.Unconditional())
		}
	}()
	defer wg.Wait()
	defer cancel()
	for _, q := range []events.Query{{}, {Session: "a"}, {Session: "b"}} {
		var n int
		var lastSeq uint64
		done := make(chan error, 1)
		go func() {
			done <- l.Read(ctx, q, func(e events.Event) error { n++; lastSeq = e.Seq; return nil })
		}()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("read %+v: %v", q, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("read %+v did not terminate", q)
		}
		if q.Session != "b" && (n < int(head) || lastSeq < head) {
			t.Fatalf("read %+v: %d events up to %d, want at least %d", q, n, lastSeq, head)
		}
	}
}

func TestFollow_DeliversNewEvents(t *testing.T) {
	l := openLog(t, startServer(t))
	s1 := jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan events.Event, 10)
	done := make(chan error, 1)
	go func() {
		done <- l.Follow(ctx, events.Query{Session: "a"}, func(e events.Event) error { got <- e; return nil })
	}()
	next := func() events.Event {
		t.Helper()
		select {
		case e := <-got:
			return e
		case <-time.After(10 * time.Second):
			t.Fatal("follow delivered nothing")
			return events.Event{}
		}
	}
	if e := next(); e.Seq != s1 {
		t.Fatalf("first followed seq %d, want %d", e.Seq, s1)
	}
	jstest.MustAppend(t, l, jstest.Created("n1", "other"), events.After(0))
	s2 := jstest.MustAppend(t, l, events.New(events.KindRestartRequested, "n1", "a", 2), events.After(s1))
	if e := next(); e.Seq != s2 || e.Type != events.KindRestartRequested {
		t.Fatalf("followed %+v, want restart_requested seq %d", e, s2)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Follow returned %v, want context.Canceled", err)
	}
}

func TestFollow_FromEmptyLog(t *testing.T) {
	l := openLog(t, startServer(t))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan uint64, 1)
	go func() {
		_ = l.Follow(ctx, events.Query{Since: time.Now().Add(-time.Hour)}, func(e events.Event) error { got <- e.Seq; return nil })
	}()
	s := jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	select {
	case seq := <-got:
		if seq != s {
			t.Fatalf("followed %d, want %d", seq, s)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow on an empty log delivered nothing")
	}
}

func TestRead_RetentionDropsOldEvents(t *testing.T) {
	s := startServer(t, func(s *testServer) { s.Streams.EventsMaxMsgs = 5 })
	l := openLog(t, s)
	var last uint64
	for range 12 {
		last = jstest.MustAppend(t, l, events.New(events.KindBridgeReady, "n1", "a", 1), events.After(last))
	}
	info, err := l.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstSeq != 8 || info.LastSeq != 12 || info.Msgs != 5 {
		t.Fatalf("state %+v, want first 8, last 12, 5 messages", info)
	}
	if got := jstest.ReadAll(t, l, events.Query{}); !slices.Equal(jstest.Seqs(got), []uint64{8, 9, 10, 11, 12}) {
		t.Fatalf("read after retention: %v", jstest.Seqs(got))
	}
	if got := jstest.ReadAll(t, l, events.Query{AfterSeq: 2, Session: "a"}); len(got) != 5 || got[0].Seq != 8 {
		t.Fatalf("read after 2: %v", jstest.Seqs(got))
	}
	// The compare-and-set still sees the session's last event.
	if _, err := l.Append(context.Background(), events.New(events.KindClosed, "n1", "a", 1), events.After(11)); !errors.Is(err, events.ErrConflict) {
		t.Fatalf("stale append after retention: %v", err)
	}
	jstest.MustAppend(t, l, events.New(events.KindClosed, "n1", "a", 1), events.After(12))
}

func TestRead_MaxBytesRetention(t *testing.T) {
	s := startServer(t, func(s *testServer) { s.Streams.EventsMaxBytes = 4096 })
	l := openLog(t, s)
	for range 100 {
		jstest.MustAppend(t, l, events.New(events.KindBridgeReady, "n1", "a", 1), events.Unconditional())
	}
	info, _ := l.Info(context.Background())
	if info.FirstSeq <= 1 || info.Bytes > 4096 {
		t.Fatalf("state %+v: nothing dropped under a 4 KiB bound", info)
	}
	got := jstest.ReadAll(t, l, events.Query{})
	if len(got) != int(info.Msgs) || got[0].Seq != info.FirstSeq || got[len(got)-1].Seq != 100 {
		t.Fatalf("read %d events from %d; state %+v", len(got), got[0].Seq, info)
	}
}

func TestNotifications_PublishAndRead(t *testing.T) {
	l := openLog(t, startServer(t))
	ctx := context.Background()
	s1, err := l.PublishNotification(ctx, "n1", "a", "notifications/message", []byte(`{"level":"info"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.PublishNotification(ctx, "n1", "b", "notifications/tools/list_changed", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.PublishNotification(ctx, "n1", "a.b", "x", nil); !errors.Is(err, events.ErrInvalidName) {
		t.Fatalf("bad session: %v", err)
	}
	var got []Notification
	if err := l.ReadNotifications(ctx, NotifyQuery{Session: "a"}, func(n Notification) error {
		got = append(got, n)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != s1 || got[0].Method != "notifications/message" || string(got[0].Params) != `{"level":"info"}` {
		t.Fatalf("notifications of a: %+v", got)
	}
	// The events stream is untouched.
	if h, _ := l.Head(ctx); h != 0 {
		t.Fatalf("events head %d after notifications", h)
	}
}

func TestRead_InOrderAcrossBatchesAndStopsCleanly(t *testing.T) {
	l := openLog(t, startServer(t, lazySync))
	const n = 3 * decodeBatchSize
	for range n {
		jstest.MustAppend(t, l, events.New(events.KindBridgeReady, "n1", "a", 1), events.Unconditional())
	}
	got := jstest.ReadAll(t, l, events.Query{})
	for i, e := range got {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
	}
	if len(got) != n {
		t.Fatalf("read %d, want %d", len(got), n)
	}
	stop := errors.New("enough")
	calls := 0
	err := l.Read(context.Background(), events.Query{}, func(e events.Event) error {
		calls++
		if calls == decodeBatchSize+10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != decodeBatchSize+10 {
		t.Fatalf("Read = %v after %d calls", err, calls)
	}
}

// TestRead_AfterTheLargestSequenceIsEmpty: AfterSeq 2^64-1 used to wrap the first sequence
// to read to 0, which a JetStream consumer refuses (an error from Follow).
func TestRead_AfterTheLargestSequenceIsEmpty(t *testing.T) {
	l := openLog(t, startServer(t))
	jstest.MustAppend(t, l, jstest.Created("n1", "a"), events.After(0))
	q := events.Query{AfterSeq: math.MaxUint64}
	if got := jstest.ReadAll(t, l, q); len(got) != 0 {
		t.Errorf("read after the largest sequence: %v", jstest.Seqs(got))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := l.Follow(ctx, q, func(e events.Event) error {
		t.Errorf("followed %+v after the largest sequence", e)
		return nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Follow after the largest sequence returned %v, want it to wait for its context", err)
	}
}
