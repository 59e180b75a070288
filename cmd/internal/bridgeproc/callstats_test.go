package bridgeproc

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

func TestCallStatsRecorder_PublishesPeriodsWithCalls(t *testing.T) {
	var got []events.CallStats
	r := newCallStatsRecorder(0, func(method string, params json.RawMessage) {
		if method != events.CallStatsMethod {
			t.Errorf("published as %q, want %q", method, events.CallStatsMethod)
		}
		var c events.CallStats
		if err := json.Unmarshal(params, &c); err != nil {
			t.Fatalf("decode %s: %v", params, err)
		}
		got = append(got, c)
	})
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	clock := t0
	r.now = func() time.Time { return clock }
	r.cur = events.NewCallStats(t0)

	r.Record("tools/call", 3*time.Millisecond, nil)
	r.Record("tools/call", 30*time.Millisecond, errors.New("boom"))
	r.Record("ping", 500*time.Microsecond, nil)
	clock = t0.Add(time.Minute)
	r.flush()
	clock = t0.Add(2 * time.Minute)
	r.flush() // a period without calls publishes nothing
	r.Record("ping", time.Millisecond, nil)
	clock = t0.Add(2*time.Minute + 30*time.Second)
	r.Close()
	r.Close()

	if len(got) != 2 {
		t.Fatalf("%d figures published, want 2 (the periods with calls): %+v", len(got), got)
	}
	first, last := got[0], got[1]
	if first.Calls != 3 || first.Errors != 1 || first.Period != time.Minute || !first.Start.Equal(t0) ||
		first.QuantileMs(0.5) != 5 || first.MaxMs != 30 || first.PerMinute() != 3 {
		t.Errorf("first minute = %+v (p50 %v); want 3 calls, 1 error, p50 5 ms, max 30 ms, 3/min", first, first.QuantileMs(0.5))
	}
	if last.Calls != 1 || last.Period != 30*time.Second || last.PerMinute() != 2 {
		t.Errorf("the last, partial period = %+v; want 1 call over 30s (2/min)", last)
	}
}

// BenchmarkCallStatsRecorder_Record is what each forwarded call pays for the figures
// (compare with BenchmarkSocketRoundTrip in bridge: ~50 µs a call).
func BenchmarkCallStatsRecorder_Record(b *testing.B) {
	r := newCallStatsRecorder(0, func(string, json.RawMessage) {})
	b.ReportAllocs()
	for b.Loop() {
		r.Record("tools/call", 7*time.Millisecond, nil)
	}
}
