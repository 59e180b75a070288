package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"syscall"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
)

// fullWriter fails every write as /dev/full does.
type fullWriter struct{ writes int }

func (w *fullWriter) Write(p []byte) (int, error) {
	w.writes++
	return 0, syscall.ENOSPC
}

// A command whose standard output cannot be written exits 3 and says so on stderr, whatever
// the command itself made of the write error: the check is in Run, not in each command.
func TestRun_OutputThatCannotBeWrittenExits3(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"--help"}, {"restart", "--help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			out, errb := &fullWriter{}, &bytes.Buffer{}
			code := Run(context.Background(), args, &cmdkit.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: errb})
			if code != clierr.ExitNetwork || out.writes == 0 {
				t.Errorf("mcpctl %v > /dev/full = exit %d after %d writes, want exit %d", args, code, out.writes, clierr.ExitNetwork)
			}
			if !strings.Contains(errb.String(), "cannot write the output") || !strings.Contains(errb.String(), "no space left") {
				t.Errorf("mcpctl %v > /dev/full: stderr %q, want the write error", args, errb.String())
			}
		})
	}
	t.Run("output written", func(t *testing.T) {
		var out, errb bytes.Buffer
		if code := Run(context.Background(), []string{"--version"}, &cmdkit.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errb}); code != clierr.ExitOK || out.Len() == 0 {
			t.Errorf("mcpctl --version = exit %d, %q, stderr %q; want 0 and the version", code, out.String(), errb.String())
		}
	})
}

func TestOutputWriter_KeepsTheFirstError(t *testing.T) {
	w := &cmdkit.OutputWriter{W: &fullWriter{}}
	if _, err := w.Write([]byte("x")); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Write = %v, want ENOSPC passed on", err)
	}
	w.W = &bytes.Buffer{}
	if _, err := w.Write([]byte("y")); err != nil || !errors.Is(w.Err(), syscall.ENOSPC) {
		t.Errorf("after a good write: Write = %v, Err = %v; want nil and the first error kept", err, w.Err())
	}
}
