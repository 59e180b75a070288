package events

import (
	"testing"
	"time"
)

func TestCallStats_Quantiles(t *testing.T) {
	c := NewCallStats(time.Time{})
	if c.QuantileMs(0.5) != 0 {
		t.Errorf("p50 of nothing = %v, want 0", c.QuantileMs(0.5))
	}
	for range 50 {
		c.Add(800*time.Microsecond, false) // ≤ 1 ms
	}
	for range 40 {
		c.Add(4*time.Millisecond, false) // ≤ 5 ms
	}
	for range 9 {
		c.Add(150*time.Millisecond, true) // ≤ 200 ms
	}
	c.Add(42*time.Second, true) // slower than every bound
	c.Period = 30 * time.Second
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 1}, {0.51, 5}, {0.9, 5}, {0.91, 200}, {0.99, 200}, {1, 42000}} {
		if got := c.QuantileMs(tc.q); got != tc.want {
			t.Errorf("quantile %v = %v ms, want %v", tc.q, got, tc.want)
		}
	}
	if c.Calls != 100 || c.Errors != 10 || c.MaxMs != 42000 || c.PerMinute() != 200 {
		t.Errorf("calls %d errors %d max %v per minute %v; want 100, 10, 42000, 200", c.Calls, c.Errors, c.MaxMs, c.PerMinute())
	}
	one := NewCallStats(time.Time{})
	one.Add(3*time.Millisecond, false)
	if got := one.QuantileMs(0.9); got != 3 {
		t.Errorf("p90 of one 3 ms call = %v, want 3 (the max, below its bucket's bound)", got)
	}
}
