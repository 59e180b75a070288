package jetstream_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/events/jetstream/embedded"
	"github.com/mcpctl/mcpctl/events/jetstream/jstest"
)

// benchmarkAppendLatency appends conditional events one after another and reports the
// latency percentiles of one append (publish to acknowledgement).
func benchmarkAppendLatency(b *testing.B, log *jetstream.Log) {
	ctx := context.Background()
	var last uint64
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		seq, err := log.Append(ctx, events.New(events.KindBridgeReady, "n1", "bench", 1), events.After(last))
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		last = seq
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkAppendLatency_Embedded: one embedded server, sync always (the default hub).
func BenchmarkAppendLatency_Embedded(b *testing.B) {
	s := embedded.NewServer(b.TempDir())
	s.Token = "bench-token"
	if err := s.Open(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	nc, err := jetstream.Dial(ctx, s.ClientURL(), s.Token)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	log, err := jetstream.NewLog(ctx, nc)
	if err != nil {
		b.Fatal(err)
	}
	benchmarkAppendLatency(b, log)
}

// BenchmarkAppendLatency_Cluster3: the three-node loopback cluster of docker-compose.yml's
// configuration (sync always on every node, replicas 3).
func BenchmarkAppendLatency_Cluster3(b *testing.B) {
	c := jstest.StartCluster(b)
	benchmarkAppendLatency(b, connect(b, c, false))
}
