// Package logtail reads a session's log the way `logs [-f]` shows it: the last lines, then
// what is appended, across the bridge's rotation. The CLI prints it; the hub ships it to
// another node's `logs @name@node`.
package logtail

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"
)

// ErrNoLog: the file does not exist (no bridge of the session has run yet).
var ErrNoLog = errors.New("no log yet")

// pollInterval is how often a follow looks for more.
const pollInterval = 100 * time.Millisecond

// Sink takes what Tail reads: lines (each with its newline, but a last line written without
// one yet), in batches, and Idle on every poll that found nothing (a follow only).
type Sink interface {
	Lines(lines []string) error
	Idle() error
}

// WriterSink writes the lines to a writer and has nothing to do when idle.
type WriterSink struct{ W io.Writer }

func (s WriterSink) Lines(lines []string) error {
	for _, l := range lines {
		if _, err := io.WriteString(s.W, l); err != nil {
			return err
		}
	}
	return nil
}

func (WriterSink) Idle() error { return nil }

// Tail gives sink the last n lines of path (0: all) and, with follow, what is appended
// until ctx ends (then it returns nil). A missing file is ErrNoLog.
func Tail(ctx context.Context, path string, n int, follow bool, sink Sink) error {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return ErrNoLog
		}
		return err
	}
	defer func() { fh.Close() }() // fh changes when the log is rotated
	b, err := io.ReadAll(fh)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) > 0 {
		if err := sink.Lines(lines); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	r := bufio.NewReader(fh)
	var batch []string
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			batch = append(batch, line)
		}
		if err == io.EOF {
			if len(batch) > 0 {
				if err := sink.Lines(batch); err != nil {
					return err
				}
				batch = nil
			} else if err := sink.Idle(); err != nil {
				return err
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(pollInterval):
			}
			// The bridge rotates the log at its size limit: once this file is fully read and
			// the path names another one, go on with that from its start.
			if rotated(fh, path) {
				next, err := os.Open(path)
				if err != nil {
					continue // between the rename and the new file: try again
				}
				// What reached the old file before the rename comes first.
				rest, err := io.ReadAll(r)
				if err != nil {
					next.Close()
					return err
				}
				if len(rest) > 0 {
					if err := sink.Lines([]string{string(rest)}); err != nil {
						next.Close()
						return err
					}
				}
				fh.Close()
				fh = next
				r.Reset(fh)
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}

// rotated reports whether path no longer names the file fh reads.
func rotated(fh *os.File, path string) bool {
	cur, err1 := fh.Stat()
	now, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && !os.SameFile(cur, now)
}
