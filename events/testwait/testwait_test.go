package testwait_test

import (
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// fakeT records what For reports instead of stopping the test.
type fakeT struct{ fatal []string }

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	f.fatal = append(f.fatal, fmt.Sprintf(format, args...))
}

func TestFor(t *testing.T) {
	t.Run("returns at once when the condition holds", func(t *testing.T) {
		calls := 0
		start := time.Now()
		testwait.For(t, time.Minute, func() error { calls++; return nil })
		if calls != 1 || time.Since(start) > time.Second {
			t.Errorf("calls = %d after %s, want 1 without waiting", calls, time.Since(start))
		}
	})
	t.Run("polls until the condition holds", func(t *testing.T) {
		calls := 0
		testwait.For(t, 10*time.Second, func() error {
			if calls++; calls < 3 {
				return fmt.Errorf("call %d", calls)
			}
			return nil
		})
		if calls != 3 {
			t.Errorf("calls = %d, want 3", calls)
		}
	})
	t.Run("fails with the timeout and the last error", func(t *testing.T) {
		ft := &fakeT{}
		calls := 0
		testwait.For(ft, 30*time.Millisecond, func() error {
			calls++
			return fmt.Errorf("status starting, want ready (call %d)", calls)
		})
		want := fmt.Sprintf("condition not met within 30ms: status starting, want ready (call %d)", calls)
		if len(ft.fatal) != 1 || ft.fatal[0] != want {
			t.Errorf("Fatalf calls = %q, want [%q]", ft.fatal, want)
		}
		if calls < 2 {
			t.Errorf("calls = %d, want the condition asked more than once before failing", calls)
		}
	})
}

// TestOnlyTestsImport: testwait is a test helper; a non-test file importing it would pull
// it into a shipped binary.
func TestOnlyTestsImport(t *testing.T) {
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	const self = "github.com/mcpctl/mcpctl/events/testwait"
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != root && (name == "node_modules" || name == "testdata" || strings.HasPrefix(name, ".")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == self {
				t.Errorf("%s imports %s; only _test.go files may", path, self)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the test's directory")
		}
		dir = parent
	}
}
