package shell

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// historyMax is how many lines of history are read back at start.
const historyMax = 1000

// HistoryFile is the shell's history under the home: one line an entry, 0600.
func HistoryFile(home string) string { return filepath.Join(home, "shell_history") }

// history is the readline history source kept in a file: entries are appended as they are
// accepted, so parallel shells interleave rather than overwrite each other.
type history struct {
	mu    sync.Mutex
	path  string
	lines []string
}

// openHistory reads the file's last historyMax lines (none when it does not exist yet).
func openHistory(path string) (*history, error) {
	h := &history{path: path}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return h, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			h.lines = append(h.lines, l)
		}
	}
	if len(h.lines) > historyMax {
		h.lines = h.lines[len(h.lines)-historyMax:]
	}
	return h, sc.Err()
}

// keep says whether a line goes into the history file: not an empty one, not one that
// spans lines, and not one that may carry a secret (a header value, a token).
func keep(line string) bool {
	if strings.TrimSpace(line) == "" || strings.ContainsAny(line, "\r\n") {
		return false
	}
	words, err := Split(line)
	if err != nil {
		return true // kept as typed, to be fixed from the history
	}
	for _, w := range words {
		lw := strings.ToLower(w)
		if strings.HasPrefix(w, "-H") || strings.HasPrefix(lw, "--header") || strings.Contains(lw, "bearer ") {
			return false
		}
		for _, h := range secretHeaders {
			if strings.HasPrefix(lw, h+":") {
				return false
			}
		}
	}
	return true
}

// secretHeaders are header names whose values are secrets: a line naming one is not kept.
var secretHeaders = []string{"authorization", "proxy-authorization", "cookie", "x-api-key"}

// Write appends line (readline's history source interface).
func (h *history) Write(line string) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !keep(line) {
		return len(h.lines), nil
	}
	h.lines = append(h.lines, line)
	f, err := os.OpenFile(h.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return len(h.lines), err
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil { // a file made wider by hand is narrowed again
		return len(h.lines), err
	}
	if _, err := fmt.Fprintln(f, line); err != nil {
		return len(h.lines), err
	}
	return len(h.lines), nil
}

// GetLine returns entry pos, 0 the oldest.
func (h *history) GetLine(pos int) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if pos < 0 || pos >= len(h.lines) {
		return "", errors.New("no such history entry")
	}
	return h.lines[pos], nil
}

// Len is the number of entries.
func (h *history) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.lines)
}

// Dump returns the entries.
func (h *history) Dump() any {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.lines...)
}
