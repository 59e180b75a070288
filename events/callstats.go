package events

import (
	"slices"
	"time"
)

// CallStatsMethod is the notification method under which a bridge publishes its calls'
// figures, once a minute in which it served calls (and when it stops), in the
// notifications stream beside its server's notifications. No server method starts with
// "mcpctl/".
const CallStatsMethod = "mcpctl/call_stats"

// callStatsBoundsMs are the upper bounds, in milliseconds, of the latency histogram's
// buckets; one more bucket counts what is slower than the last.
var callStatsBoundsMs = [...]float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000}

// CallStats is what a bridge served in one period: the count of requests it forwarded to
// the server, how many failed, and a histogram of how long they took (from the request
// reaching the bridge to the server's answer).
type CallStats struct {
	Start  time.Time     `json:"start"`
	Period time.Duration `json:"period_ns"`
	Calls  int           `json:"calls"`
	Errors int           `json:"errors"`
	// BoundsMs are the buckets' upper bounds; Counts has one entry more (slower than all).
	BoundsMs []float64 `json:"bounds_ms"`
	Counts   []int     `json:"counts"`
	MaxMs    float64   `json:"max_ms"`
}

// NewCallStats is an empty period starting at start.
func NewCallStats(start time.Time) CallStats {
	return CallStats{Start: start, BoundsMs: slices.Clone(callStatsBoundsMs[:]), Counts: make([]int, len(callStatsBoundsMs)+1)}
}

// Add counts one call.
func (c *CallStats) Add(took time.Duration, failed bool) {
	ms := float64(took) / float64(time.Millisecond)
	i, _ := slices.BinarySearch(c.BoundsMs, ms)
	c.Counts[i]++
	c.Calls++
	if failed {
		c.Errors++
	}
	c.MaxMs = max(c.MaxMs, ms)
}

// QuantileMs is the upper bound of the bucket holding the q-th quantile (0 < q ≤ 1): a
// p50 of 5 means half the calls took at most 5 ms. A quantile in the last bucket is MaxMs.
// No calls: 0.
func (c CallStats) QuantileMs(q float64) float64 {
	if c.Calls == 0 || len(c.Counts) != len(c.BoundsMs)+1 {
		return 0
	}
	rank := int(q*float64(c.Calls) + 0.999999)
	seen := 0
	for i, n := range c.Counts {
		seen += n
		if seen >= rank {
			if i < len(c.BoundsMs) {
				return min(c.BoundsMs[i], c.MaxMs)
			}
			break
		}
	}
	return c.MaxMs
}

// PerMinute is the period's call rate.
func (c CallStats) PerMinute() float64 {
	if c.Period <= 0 {
		return 0
	}
	return float64(c.Calls) * float64(time.Minute) / float64(c.Period)
}
