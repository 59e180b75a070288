package session

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer a test can read while a goroutine writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
}

func TestTailLog_FollowGoesOnInTheNewLogAfterARotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.log")
	appendLine(t, path, "one\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer
	done := make(chan error, 1)
	go func() { done <- tailLog(ctx, &out, path, 0, true) }()
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for out.String() != want {
			if time.Now().After(deadline) {
				t.Fatalf("logs -f printed %q, want %q", out.String(), want)
			}
			<-tick.C
		}
	}
	waitOutput("one\n")
	// The last lines of the old file and the rename land between two polls.
	appendLine(t, path, "two\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendLine(t, path, "three\n")
	waitOutput("one\ntwo\nthree\n")
	appendLine(t, path, "four\n")
	waitOutput("one\ntwo\nthree\nfour\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("tailLog: %v", err)
	}
}
