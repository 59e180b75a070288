// Package testwait is for tests only: it polls a condition against a deadline, so a test
// waits exactly as long as something takes to happen and never sleeps on a guess. Every
// package's tests share this one copy; no non-test file may import it (TestOnlyTestsImport
// checks).
package testwait

import (
	"time"
)

// Interval is how often For asks again. A condition slower than that is simply asked
// back to back (the ticker drops the ticks it missed).
const Interval = 10 * time.Millisecond

// T is the part of testing.TB that For needs.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
}

// For calls cond until it returns nil, failing t when timeout passes first. The failure
// names the timeout and cond's last error, so a condition should say what it saw and what
// it wanted ("status starting, want ready"), not just "not yet".
func For(t T, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(Interval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s: %v", timeout, err)
			return // a T whose Fatalf returns (a fake) must not poll on
		}
		<-tick.C
	}
}
