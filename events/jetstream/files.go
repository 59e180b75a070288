package jetstream

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// tokenBytes is the size of a new hub token before hex encoding.
const tokenBytes = 32

// LoadOrCreateToken returns the hub token stored in path, creating it (0600, its directory
// 0700) with a random value when it does not exist. A file other users can read is refused
// with an error wrapping events.ErrUnsafe.
func LoadOrCreateToken(path string) (string, error) {
	tok, err := readToken(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return tok, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	var b [tokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tok = hex.EncodeToString(b[:])
	// Link, not rename: of two processes creating the token at once, exactly one file wins and
	// the other process reads it.
	tmp, err := writeTemp(path, []byte(tok+"\n"))
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("token: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return readToken(path)
}

func readToken(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%w: token file %s has mode %04o, readable by others (fix: chmod 600 %s)",
			events.ErrUnsafe, path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("token: %s is empty (remove it to create a new one)", path)
	}
	return tok, nil
}

// Address is what a running hub writes so that clients find it.
type Address struct {
	URL     string    `json:"url"`
	PID     int       `json:"pid"`
	Build   string    `json:"build"`
	Started time.Time `json:"started"`
}

// WriteAddress stores a atomically in path: a reader sees the old file or the new one,
// never a part, even across a crash.
func WriteAddress(path string, a Address) error {
	b, err := json.Marshal(a)
	if err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	tmp, err := writeTemp(path, append(b, '\n'))
	if err != nil {
		return fmt.Errorf("address: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("address: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("address: %w", err)
	}
	return nil
}

// ReadAddress reads a hub address file. A missing, empty, truncated or otherwise unusable
// file gives an error wrapping events.ErrNoHub.
func ReadAddress(path string) (Address, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v", events.ErrNoHub, err)
	}
	var a Address
	if err := json.Unmarshal(b, &a); err != nil {
		return Address{}, fmt.Errorf("%w: address file %s: %v", events.ErrNoHub, path, err)
	}
	switch {
	case a.URL == "":
		return Address{}, fmt.Errorf("%w: address file %s has no url", events.ErrNoHub, path)
	case a.PID <= 0:
		return Address{}, fmt.Errorf("%w: address file %s has no pid", events.ErrNoHub, path)
	}
	return a, nil
}

// writeTemp writes data to a new 0600 temp file next to path, synced and closed, and returns
// its name.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return "", err
	}
	name := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(name)
		return "", err
	}
	return name, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
