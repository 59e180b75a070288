// Package backoff paces retry loops: pauses that grow by a factor from an initial value up
// to a maximum, each cut short by the caller's context. Every retry loop of mcpctl uses it,
// so that none spins and none waits longer than its maximum between two attempts. Where
// something can be waited on instead (a pipe, a pidfd, a watch), that is used, not this.
package backoff

import (
	"context"
	"time"
)

// DefaultFactor is the growth of the pause when Factor is not set.
const DefaultFactor = 2

// Backoff hands out the pauses of one retry loop. The zero value is not useful: fill
// Initial and Max (New does). It is not safe for concurrent use.
type Backoff struct {
	Initial time.Duration // the first pause
	Max     time.Duration // no pause is longer
	Factor  float64       // each pause is the previous one times Factor (DefaultFactor when < 1)

	next time.Duration
}

// New returns a Backoff from initial to max, doubling.
func New(initial, max time.Duration) *Backoff {
	return &Backoff{Initial: initial, Max: max, Factor: DefaultFactor}
}

// Next returns the pause to take now and grows the following one.
func (b *Backoff) Next() time.Duration {
	if b.next <= 0 {
		b.next = b.Initial
	}
	d := min(b.next, b.Max)
	f := b.Factor
	if f < 1 {
		f = DefaultFactor
	}
	b.next = min(time.Duration(float64(d)*f), b.Max)
	if b.next <= d && d < b.Max {
		b.next = d + 1 // a factor that rounds to nothing still grows
	}
	return d
}

// Reset makes the next pause Initial again: call it when an attempt made progress.
func (b *Backoff) Reset() { b.next = 0 }

// Wait pauses for Next(), or returns ctx's error when ctx ends first.
func (b *Backoff) Wait(ctx context.Context) error {
	t := time.NewTimer(b.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
