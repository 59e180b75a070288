package subscribe

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// BenchmarkDeliveryLatency measures how long after its append is acknowledged (stored and,
// by default, fsynced) a live subscriber receives an event, on a real embedded server over
// TCP. The target is a median of at most 5 ms; see the reported p50-ms and p99-ms.
func BenchmarkDeliveryLatency(b *testing.B) {
	h := startHub(b)
	c := connect(b, h)
	ctx := context.Background()

	var mu sync.Mutex
	received := map[uint64]time.Time{}
	got := make(chan struct{}, 1)
	run(b, c, Subscription{Start: New()}, func(_ context.Context, e events.Event) error {
		now := time.Now()
		mu.Lock()
		received[e.Seq] = now
		mu.Unlock()
		select {
		case got <- struct{}{}:
		default:
		}
		return nil
	})
	// Warm up: the subscription is live once an event appended now arrives.
	testwait.For(b, 10*time.Second, func() error {
		seq := h.appendEv(b, "bench", events.KindBridgeStopping, 1)
		mu.Lock()
		defer mu.Unlock()
		for s := range received {
			if s >= seq {
				return nil
			}
		}
		return context.DeadlineExceeded
	})

	lat := make([]time.Duration, 0, b.N)
	full := make([]time.Duration, 0, b.N) // from the start of the append call, ack wait included
	e := events.New(events.KindBridgeStopping, "n", "bench", 1)
	b.ResetTimer()
	for range b.N {
		sent := time.Now()
		seq, err := h.log.Append(ctx, e, events.Unconditional())
		acked := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		for {
			mu.Lock()
			at, ok := received[seq]
			mu.Unlock()
			if ok {
				// The subscriber may see the event before the writer reads its ack.
				lat = append(lat, max(0, at.Sub(acked)))
				full = append(full, at.Sub(sent))
				break
			}
			select {
			case <-got:
			case <-time.After(5 * time.Second):
				b.Fatalf("event %d not delivered within 5s", seq)
			}
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	slices.Sort(full)
	pct := func(d []time.Duration, p float64) float64 {
		return float64(d[min(len(d)-1, int(p*float64(len(d))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(lat, 0.5), "p50-ms")
	b.ReportMetric(pct(lat, 0.99), "p99-ms")
	b.ReportMetric(pct(lat, 1), "max-ms")
	b.ReportMetric(pct(full, 0.5), "append-p50-ms")
}
