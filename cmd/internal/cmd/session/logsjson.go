package session

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
)

// logLine is one line of a session's log as `logs --json` prints it: one JSON object a
// line (JSON Lines), so that `logs -f --json` can be read as it grows.
type logLine struct {
	Session string `json:"session"`
	// Time and Level are those of a bridge's line (slog's time=… level=…); a stdio
	// server's stderr lines have neither.
	Time  string `json:"time,omitempty"`
	Level string `json:"level,omitempty"`
	Line  string `json:"line"`
}

// jsonLinesWriter turns the log's text, written in any pieces, into JSON Lines: each
// complete line becomes one object; Close writes a last line that had no newline.
type jsonLinesWriter struct {
	w       io.Writer
	session string
	partial []byte
}

func (j *jsonLinesWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			j.partial = append(j.partial, p...)
			break
		}
		line := append(j.partial, p[:i]...)
		j.partial = nil
		if err := j.emit(string(line)); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	return n, nil
}

// Close writes what is left of a line without its newline.
func (j *jsonLinesWriter) Close() error {
	if len(j.partial) == 0 {
		return nil
	}
	line := string(j.partial)
	j.partial = nil
	return j.emit(line)
}

func (j *jsonLinesWriter) emit(line string) error {
	l := parseLogLine(strings.TrimSuffix(line, "\r"))
	l.Session = j.session
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	_, err = j.w.Write(append(b, '\n'))
	return err
}

// parseLogLine reads the time and level of a bridge's slog line ("time=T level=L msg=…").
func parseLogLine(s string) logLine {
	l := logLine{Line: s}
	rest, ok := strings.CutPrefix(s, "time=")
	if !ok {
		return l
	}
	t, rest, _ := strings.Cut(rest, " ")
	l.Time = t
	if lv, ok := strings.CutPrefix(rest, "level="); ok {
		l.Level, _, _ = strings.Cut(lv, " ")
	}
	return l
}
