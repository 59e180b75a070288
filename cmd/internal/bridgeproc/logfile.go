package bridgeproc

import (
	"errors"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// rotatingLog is the session log as the bridge writes it: its own messages and everything
// its stdio server prints on stderr. The hub rotates the log only when it spawns a bridge,
// so a chatty server would grow it without bound; rotatingLog moves it to <log>.1 (one old
// copy) when it reaches max bytes, opens a fresh one, and points fd (the bridge's stderr, 2)
// at it, so that whatever else writes to stderr (a panic) lands in the current log too.
//
// Two bridges of one session overlap for a moment around a restart and share the log: a
// bridge rotates only while the path still names the file it writes, and otherwise just
// follows the path to the file the other one opened.
type rotatingLog struct {
	path string
	max  int64
	fd   int // the descriptor made to point at the current file (2: stderr)

	mu   sync.Mutex
	file *os.File // a handle on fd's file, for Stat
}

// openRotatingLog returns a writer for the log at path when fd already writes to it (the hub
// started this bridge with its stderr on the session log); nil, false otherwise (a bridge
// run by hand on a terminal keeps its stderr).
func openRotatingLog(path string, max int64, fd int) (*rotatingLog, bool) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, false
	}
	var pst unix.Stat_t
	if err := unix.Stat(path, &pst); err != nil || pst.Dev != st.Dev || pst.Ino != st.Ino {
		return nil, false
	}
	// A handle of our own, so that closing it never closes fd itself.
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, false
	}
	unix.CloseOnExec(dup)
	return &rotatingLog{path: path, max: max, fd: fd, file: os.NewFile(uintptr(dup), path)}, true
}

// Write appends p to the current log, rotating first when p would take it past max.
func (l *rotatingLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if fi, err := l.file.Stat(); err == nil && fi.Size() > 0 && fi.Size()+int64(len(p)) > l.max {
		if err := l.rotate(fi); err != nil {
			// Keep writing to the old file rather than lose the server's output.
			_, _ = io.WriteString(l.file, "mcpctld: rotate session log: "+err.Error()+"\n")
		}
	}
	return l.file.Write(p)
}

// rotate moves the log to .1 (when the path still names this bridge's file) and reopens it.
func (l *rotatingLog) rotate(cur os.FileInfo) error {
	if pi, err := os.Stat(l.path); err == nil && os.SameFile(cur, pi) {
		if err := os.Rename(l.path, l.path+".1"); err != nil {
			return err
		}
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	next, err := os.OpenFile(l.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	if err := unix.Dup2(int(next.Fd()), l.fd); err != nil {
		next.Close()
		return err
	}
	l.file.Close()
	l.file = next
	return nil
}

// Close releases the writer's handle; fd stays open.
func (l *rotatingLog) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.file.Close()
}
