package bridgeproc

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openStderrLike opens path for appending as the hub does for a bridge's stderr and returns
// the file standing in for fd 2.
func openStderrLike(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestRotatingLog_MovesTheLogAsideAtTheLimitAndKeepsOneOldCopy(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	stderr := openStderrLike(t, path)
	l, ok := openRotatingLog(path, 100, int(stderr.Fd()))
	if !ok {
		t.Fatal("openRotatingLog refused a log the descriptor writes to")
	}
	defer l.Close()
	line := []byte(strings.Repeat("x", 39) + "\n") // 40 bytes
	for i := 0; i < 3; i++ {                       // 120 bytes: the third write rotates
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	old, err := os.ReadFile(path + ".1")
	if err != nil {
		t.Fatalf("no old copy after passing the limit: %v", err)
	}
	cur, _ := os.ReadFile(path)
	if len(old) != 80 || len(cur) != 40 {
		t.Errorf("old copy %d bytes, current %d bytes; want 80 and 40", len(old), len(cur))
	}
	// What else writes to the descriptor (a panic on stderr) lands in the current log.
	if _, err := stderr.Write([]byte("direct\n")); err != nil {
		t.Fatal(err)
	}
	if cur, _ := os.ReadFile(path); !bytes.HasSuffix(cur, []byte("direct\n")) {
		t.Errorf("a write to the descriptor went elsewhere; current log: %q", cur)
	}
	for i := 0; i < 6; i++ { // two more rotations: still one old copy, never more than the limit
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files %v, want the log and one old copy", entries)
	}
	for _, p := range []string{path, path + ".1"} {
		if fi, err := os.Stat(p); err != nil || fi.Size() > 100 {
			t.Errorf("%s: %v, size %d, want at most 100", p, err, fi.Size())
		}
	}
}

func TestRotatingLog_FollowsALogAnotherBridgeRotated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.log")
	a := openStderrLike(t, path)
	b := openStderrLike(t, path)
	la, _ := openRotatingLog(path, 100, int(a.Fd()))
	lb, _ := openRotatingLog(path, 100, int(b.Fd()))
	defer la.Close()
	defer lb.Close()
	if _, err := la.Write(bytes.Repeat([]byte("a"), 90)); err != nil {
		t.Fatal(err)
	}
	if _, err := la.Write([]byte("A rotated\n")); err != nil { // 100: no rotation yet
		t.Fatal(err)
	}
	if _, err := la.Write([]byte("A1\n")); err != nil { // rotates: path is now A's new file
		t.Fatal(err)
	}
	// B still writes to the old file (now .1), which is full: it must not move A's new log
	// over the old copy, only follow the path.
	if _, err := lb.Write([]byte("B1\n")); err != nil {
		t.Fatal(err)
	}
	cur, _ := os.ReadFile(path)
	if string(cur) != "A1\nB1\n" {
		t.Errorf("current log %q, want both bridges' lines after the rotation", cur)
	}
	if old, _ := os.ReadFile(path + ".1"); !bytes.HasSuffix(old, []byte("A rotated\n")) {
		t.Errorf("old copy %q, want the lines before the rotation", old)
	}
}

func TestOpenRotatingLog_LeavesOtherStderrAlone(t *testing.T) {
	dir := t.TempDir()
	other := openStderrLike(t, filepath.Join(dir, "other.log"))
	if _, ok := openRotatingLog(filepath.Join(dir, "s.log"), 100, int(other.Fd())); ok {
		t.Error("a descriptor writing to another file was taken for the session log")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if _, ok := openRotatingLog(filepath.Join(dir, "s.log"), 100, int(w.Fd())); ok {
		t.Error("a pipe was taken for the session log")
	}
}
