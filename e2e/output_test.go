package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestOutput_StdoutThatCannotBeWrittenExits3: a command whose output does not reach stdout
// (here /dev/full: every write fails with ENOSPC) exits 3 and says why on stderr, instead of
// exiting 0 as if the caller had the answer.
func TestOutput_StdoutThatCannotBeWrittenExits3(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)
	s := "@" + name
	// The bridge logs "ready" just after it announced it: wait for that line, so that
	// `logs` has something to write.
	testwait.For(t, 10*time.Second, func() error {
		if r := e.run(s, "logs"); r.Code != 0 || r.Stdout == "" {
			return fmt.Errorf("the session log is still empty:\n%s", r)
		}
		return nil
	})
	for _, args := range [][]string{
		{s, "tools-call", "add", "a:=1", "b:=2"},
		{"--json", s, "tools-call", "add", "a:=1", "b:=2"},
		{s, "resources-read", "test://counter"},
		{s, "prompts-get", "greet", "name:=Ada"},
		{s, "ping"},
		{s, "history"},
		{s, "logs", "-n", "0"},
		{"sessions"},
		{"--version"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if r := e.run(args...); r.Code != 0 || r.Stdout == "" {
				t.Fatalf("to a pipe, want exit 0 and output:\n%s", r)
			}
			full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
			if err != nil {
				t.Skip("no /dev/full:", err)
			}
			defer full.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := e.cmd(ctx, args...)
			var errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = full, &errb
			err = cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 3 {
				t.Errorf("mcpctl %v > /dev/full: %v, want exit 3\n  stderr: %s", args, err, errb.String())
			}
			if !strings.Contains(errb.String(), "no space left on device") {
				t.Errorf("mcpctl %v > /dev/full: stderr does not name the write error: %q", args, errb.String())
			}
		})
	}
}
