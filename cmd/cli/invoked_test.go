package cli

import (
	"testing"
	"time"
)

// A /proc start time becomes the latest wall-clock moment the process may have started:
// never before it, so `restart; restart` is never taken for callers started together.
func TestStartedAt_RoundsTheTickUp(t *testing.T) {
	now := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		sinceBoot time.Duration
		ticks     uint64
		want      time.Time
	}{
		{"started 5 s ago, within tick 500", 10 * time.Second, 500, now.Add(-5*time.Second + 10*time.Millisecond)},
		{"started in the tick still running: now", 10*time.Second + 5*time.Millisecond, 1000, now},
		{"started in the tick before", 10*time.Second + 15*time.Millisecond, 1000, now.Add(-5 * time.Millisecond)},
		{"tick after now (clock skew): now", 10 * time.Second, 2000, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := startedAt(now, tc.sinceBoot, tc.ticks); !got.Equal(tc.want) {
				t.Errorf("startedAt(now, %s, %d) = %s, want %s", tc.sinceBoot, tc.ticks, got.Sub(now), tc.want.Sub(now))
			}
		})
	}
	if got := invokedAt(); got.After(time.Now()) || time.Since(got) > time.Hour {
		t.Errorf("invokedAt() = %s ago, want this test process's start", time.Since(got))
	}
}
