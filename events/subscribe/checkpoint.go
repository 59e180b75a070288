package subscribe

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Checkpoint stores the sequence of the last event a subscriber handled, so that it
// resumes there after a crash.
type Checkpoint interface {
	// Load returns the stored sequence; ok is false when none was stored yet.
	Load() (seq uint64, ok bool, err error)
	// Save stores seq. It must be atomic: after a crash Load returns this seq or an older
	// one, never garbage (an older one means the newer events are delivered again).
	Save(seq uint64) error
}

// FileCheckpoint keeps the sequence in a small file: written to a temp file, synced and
// renamed over the old one, so a crash leaves the old value or the new one.
type FileCheckpoint struct {
	Path string
}

var _ Checkpoint = (*FileCheckpoint)(nil)

// Load implements Checkpoint. A missing file means no sequence yet.
func (c *FileCheckpoint) Load() (uint64, bool, error) {
	b, err := os.ReadFile(c.Path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("checkpoint: %w", err)
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, false, fmt.Errorf("checkpoint %s: not a sequence number (%q); remove it to start over", c.Path, b)
	}
	return seq, true, nil
}

// Save implements Checkpoint.
func (c *FileCheckpoint) Save(seq uint64) error {
	dir := filepath.Dir(c.Path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(c.Path)+".tmp*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	_, err = f.WriteString(strconv.FormatUint(seq, 10) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, c.Path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// MemCheckpoint keeps the sequence in memory (tests, or a subscriber that resumes only
// within one process).
type MemCheckpoint struct {
	seq uint64
	set bool
}

var _ Checkpoint = (*MemCheckpoint)(nil)

// Load implements Checkpoint.
func (c *MemCheckpoint) Load() (uint64, bool, error) { return c.seq, c.set, nil }

// Save implements Checkpoint.
func (c *MemCheckpoint) Save(seq uint64) error { c.seq, c.set = seq, true; return nil }
