package projector

import (
	"context"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/embedded"
)

// BenchmarkReplayFold100k_JetStream replays the realistic 100k-event log from a real
// embedded JetStream (file store, lazy sync for the preload) over TCP and folds it: what a
// hub does when it starts on a long history, and what `--at` time travel costs.
// Compare with BenchmarkFold100k (the fold alone, from memory).
func BenchmarkReplayFold100k_JetStream(b *testing.B) {
	const n, sessions = 100_000, 400
	ctx := context.Background()
	srv := embedded.NewServer(b.TempDir())
	srv.Token = "bench-token-0123456789abcdef"
	srv.SyncAlways = false
	if err := srv.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = srv.Close() })
	nc, err := jetstream.Dial(ctx, srv.ClientURL(), srv.Token)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	log, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		b.Fatal(err)
	}
	preloadJetStream(b, log, realisticLog(b, n, sessions))

	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		p, err := Fold(ctx, log, events.Query{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Sessions) != sessions || p.Skipped != 0 {
			b.Fatalf("fold: %d sessions, %d skipped; want %d, 0", len(p.Sessions), p.Skipped, sessions)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/event")
}

// preloadJetStream copies every event of src into the log's stream with asynchronous
// publishes (an unconditional append per event would spend the benchmark's setup on
// round trips).
func preloadJetStream(b *testing.B, log *jetstream.Log, src *events.MemLog) {
	b.Helper()
	js := log.JetStream()
	err := src.Read(context.Background(), events.Query{}, func(e events.Event) error {
		data, err := e.Marshal()
		if err != nil {
			return err
		}
		_, err = js.PublishAsync(e.Subject(), data)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("preload did not complete within a minute")
	}
}
