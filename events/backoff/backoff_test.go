package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestBackoff_Next(t *testing.T) {
	t.Run("grows by the factor up to the maximum", func(t *testing.T) {
		b := New(2*time.Millisecond, 20*time.Millisecond)
		want := []time.Duration{2, 4, 8, 16, 20, 20}
		for i, w := range want {
			if got := b.Next(); got != w*time.Millisecond {
				t.Fatalf("New(2ms, 20ms): pause %d = %s, want %s", i+1, got, w*time.Millisecond)
			}
		}
	})
	t.Run("Reset starts again from the initial pause", func(t *testing.T) {
		b := New(time.Millisecond, time.Second)
		b.Next()
		b.Next()
		b.Reset()
		if got := b.Next(); got != time.Millisecond {
			t.Fatalf("after Reset: %s, want 1ms", got)
		}
	})
	t.Run("another factor", func(t *testing.T) {
		b := &Backoff{Initial: 10 * time.Millisecond, Max: time.Second, Factor: 1.5}
		want := []time.Duration{10 * time.Millisecond, 15 * time.Millisecond, 22500 * time.Microsecond}
		for i, w := range want {
			if got := b.Next(); got != w {
				t.Fatalf("factor 1.5: pause %d = %s, want %s", i+1, got, w)
			}
		}
	})
	t.Run("an unset factor doubles", func(t *testing.T) {
		b := &Backoff{Initial: time.Millisecond, Max: time.Second}
		b.Next()
		if got := b.Next(); got != 2*time.Millisecond {
			t.Fatalf("factor 0: pause 2 = %s, want 2ms", got)
		}
	})
	t.Run("an initial above the maximum is the maximum", func(t *testing.T) {
		b := New(time.Second, 10*time.Millisecond)
		if got := b.Next(); got != 10*time.Millisecond {
			t.Fatalf("New(1s, 10ms): %s, want 10ms", got)
		}
	})
}

func TestBackoff_Wait(t *testing.T) {
	t.Run("pauses for the next pause", func(t *testing.T) {
		b := New(20*time.Millisecond, time.Second)
		began := time.Now()
		if err := b.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(began); d < 20*time.Millisecond {
			t.Fatalf("Wait returned after %s, want at least 20ms", d)
		}
	})
	t.Run("returns the context's error when it ends first", func(t *testing.T) {
		b := New(time.Hour, time.Hour)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait(1h) with a 20ms context: %v, want DeadlineExceeded", err)
		}
	})
}
