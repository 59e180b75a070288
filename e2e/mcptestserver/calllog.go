package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
)

// callRecord is one line of the calls log.
type callRecord struct {
	Tool      string         `json:"tool"`
	Args      map[string]any `json:"args"`
	PID       int            `json:"pid"`
	Time      time.Time      `json:"time"`
	RequestID any            `json:"request_id"`
}

// callLog records tool invocations. With a file, every record is one
// O_APPEND write followed by fsync, under an exclusive flock so that several
// server processes sharing the file cannot interleave lines, and per-key
// sequence numbers (the count tool) are computed from the file itself: they
// survive restarts and are shared between processes. Without a file the
// numbers live in memory.
type callLog struct {
	mu     sync.Mutex
	f      *os.File // nil: memory only
	counts map[string]int
}

func openCallLog(path string) (*callLog, error) {
	l := &callLog{counts: make(map[string]int)}
	if path == "" {
		return l, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open calls log: %w", err)
	}
	l.f = f
	return l, nil
}

// Close releases the file.
func (l *callLog) Close() error {
	if l.f == nil {
		return nil
	}
	return l.f.Close()
}

// seqKey names what a sequence number counts: calls of one tool with one key.
func seqKey(tool, key string) string { return tool + "\x00" + key }

// Record appends rec. When counted, it also returns how many records of
// rec.Tool whose "key" argument equals key exist now, this one included;
// otherwise it returns 0.
func (l *callLog) Record(rec callRecord, key string, counted bool) (int, error) {
	line, err := json.Marshal(rec)
	if err != nil {
		return 0, fmt.Errorf("encode call record: %w", err)
	}
	line = append(line, '\n')

	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		if !counted {
			return 0, nil
		}
		l.counts[seqKey(rec.Tool, key)]++
		return l.counts[seqKey(rec.Tool, key)], nil
	}
	fd := int(l.f.Fd())
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		return 0, fmt.Errorf("lock calls log: %w", err)
	}
	defer syscall.Flock(fd, syscall.LOCK_UN) //nolint:errcheck // closing the fd releases it anyway
	if _, err := l.f.Write(line); err != nil {
		return 0, fmt.Errorf("append calls log: %w", err)
	}
	if err := l.f.Sync(); err != nil {
		return 0, fmt.Errorf("sync calls log: %w", err)
	}
	if !counted {
		return 0, nil
	}
	return countRecords(l.f.Name(), rec.Tool, key)
}

// countRecords counts the lines of the log at path for tool whose "key"
// argument equals key (a missing key counts as "").
func countRecords(path, tool, key string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read calls log: %w", err)
	}
	defer f.Close()
	return countRecordsIn(f, tool, key)
}

func countRecordsIn(r io.Reader, tool, key string) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 64*1024*1024)
	quoted, _ := json.Marshal(tool)
	n := 0
	for sc.Scan() {
		b := sc.Bytes()
		if !bytes.Contains(b, quoted) {
			continue
		}
		var rec callRecord
		if json.Unmarshal(b, &rec) != nil || rec.Tool != tool {
			continue
		}
		k, _ := rec.Args["key"].(string)
		if k == key {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read calls log: %w", err)
	}
	return n, nil
}
