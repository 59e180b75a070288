package jetstream

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

func benchmarkConditionalAppend(b *testing.B, sync bool) {
	s := startServer(b, func(s *testServer) { s.SyncAlways = sync })
	l := openLog(b, s)
	ctx := context.Background()
	var last uint64
	b.ResetTimer()
	for b.Loop() {
		seq, err := l.Append(ctx, events.New(events.KindBridgeReady, "n1", "bench", 1), events.After(last))
		if err != nil {
			b.Fatal(err)
		}
		last = seq
	}
}

func BenchmarkAppendConditional_SyncAlways(b *testing.B) { benchmarkConditionalAppend(b, true) }
func BenchmarkAppendConditional_Lazy(b *testing.B)       { benchmarkConditionalAppend(b, false) }

func BenchmarkLastSeq(b *testing.B) {
	s := startServer(b, lazySync)
	l := openLog(b, s)
	ctx := context.Background()
	for i := range 1000 {
		jstest.MustAppend(b, l, jstest.Created("n1", fmt.Sprintf("s%d", i)), events.After(0))
	}
	for b.Loop() {
		if _, err := l.LastSeq(ctx, "n1", "s500"); err != nil {
			b.Fatal(err)
		}
	}
}

// preload stores n realistic events across 100 sessions with async publishes.
func preload(b *testing.B, s *testServer, n int) {
	b.Helper()
	nc, err := nats.Connect("", nats.InProcessServer(s.NATS()), nats.Token(s.Token))
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	js, err := njs.New(nc, njs.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	kinds := []events.Kind{events.KindRestartRequested, events.KindBridgeSpawned, events.KindBridgeReady, events.KindBridgeExited}
	for i := range n {
		e := events.New(kinds[i%len(kinds)], "n1", fmt.Sprintf("session-%d", i%100), uint64(i/100))
		e.PID, e.Socket, e.Reason = 12345, "/home/user/.mcpctl/bridges/session.12345.sock", "requested by user"
		data, _ := e.Marshal()
		if _, err := js.PublishAsync(e.Subject(), data); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-b.Context().Done():
	}
}

func BenchmarkRead100k(b *testing.B) {
	const n = 100_000
	s := startServer(b, lazySync)
	preload(b, s, n)
	l := openLog(b, s)
	ctx := context.Background()
	for b.Loop() {
		got := 0
		if err := l.Read(ctx, events.Query{}, func(events.Event) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("read %d events, want %d", got, n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/event")
}

func BenchmarkRead100k_OneSession(b *testing.B) {
	const n = 100_000
	s := startServer(b, lazySync)
	preload(b, s, n)
	l := openLog(b, s)
	ctx := context.Background()
	for b.Loop() {
		got := 0
		if err := l.Read(ctx, events.Query{Node: "n1", Session: "session-7"}, func(events.Event) error { got++; return nil }); err != nil {
			b.Fatal(err)
		}
		if got != n/100 {
			b.Fatalf("read %d events, want %d", got, n/100)
		}
	}
}

func BenchmarkStoreGet(b *testing.B) {
	s := startServer(b, lazySync)
	st := openStore(b, s)
	ctx := context.Background()
	if err := st.Put(ctx, "n1.a", []byte(`{"generation":3,"status":"ready","seq":1234}`)); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := st.Get(ctx, "n1.a"); err != nil {
			b.Fatal(err)
		}
	}
}
