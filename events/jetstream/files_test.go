package jetstream

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

func TestLoadOrCreateToken(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home")
	path := filepath.Join(dir, "hub.token")
	tok, err := LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 64 {
		t.Fatalf("token %q: want 64 hex characters", tok)
	}
	for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %04o, want %04o", p, fi.Mode().Perm(), want)
		}
	}
	again, err := LoadOrCreateToken(path)
	if err != nil || again != tok {
		t.Fatalf("second load = %q, %v; want the same token", again, err)
	}
	t.Run("readable by others is refused", func(t *testing.T) {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateToken(path)
		if !errors.Is(err, events.ErrUnsafe) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("load of a 0644 token: %v; want ErrUnsafe with the fix", err)
		}
	})
	t.Run("no temp files left", func(t *testing.T) {
		ents, _ := os.ReadDir(dir)
		if len(ents) != 1 {
			t.Fatalf("directory holds %v", ents)
		}
	})
}

func TestAddress_WriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hub.json")
	want := Address{URL: "nats://127.0.0.1:4222", PID: 42, Build: "abc", Started: time.Now().UTC().Truncate(time.Second)}
	if err := WriteAddress(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadAddress(path)
	if err != nil || got != want {
		t.Fatalf("ReadAddress = %+v, %v; want %+v", got, err, want)
	}
	want.URL = "nats://127.0.0.1:5222"
	if err := WriteAddress(path, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadAddress(path); got.URL != want.URL {
		t.Fatalf("rewritten address %+v", got)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %v after writes", ents)
	}
}

func TestReadAddress_UnusableFilesMeanNoHub(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"empty":     "",
		"truncated": `{"url":"nats://127.0.0.1:4222","pi`,
		"garbage":   "\x00\xff not json",
		"no url":    `{"pid":12}`,
		"no pid":    `{"url":"nats://127.0.0.1:4222"}`,
		"array":     `[1,2]`,
		"null":      `null`,
	}
	for name, content := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "_"))
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := ReadAddress(path); !errors.Is(err, events.ErrNoHub) {
				t.Fatalf("ReadAddress(%q) = %v, want ErrNoHub", content, err)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := ReadAddress(filepath.Join(dir, "nope")); !errors.Is(err, events.ErrNoHub) {
			t.Fatalf("missing file: %v", err)
		}
	})
}
