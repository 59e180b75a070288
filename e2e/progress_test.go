package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// connectExtras opens a stdio session to the Go test server with its --extras (the steps
// tool, the order prompt, the menu template).
func connectExtras(e *env, name string) {
	e.t.Helper()
	e.ok("connect", "@"+name, "--", serverBin, "--extras")
	e.t.Cleanup(func() { e.run("close", "@"+name) })
}

// stepsShown returns the steps of n whose message reached the terminal.
func stepsShown(screen string, n int) []int {
	var shown []int
	for i := 1; i <= n; i++ {
		if strings.Contains(screen, fmt.Sprintf("step %d of %d", i, n)) {
			shown = append(shown, i)
		}
	}
	return shown
}

// TestProgress_ToolsCallShowsTheServersProgressOnAStderrTerminalOnly: a 10-step tool
// shows each step on a terminal (stderr), never on stdout, and nothing at all when stderr
// is piped; the steps are in the session's notifications too.
func TestProgress_ToolsCallShowsTheServersProgressOnAStderrTerminalOnly(t *testing.T) {
	t.Parallel()
	e := shared(t)
	s := uniqueName(t)
	connectExtras(e, s)
	const result = "took 10 steps\n"
	calls := 0 // tools-call steps n:=10 that ran to the end

	// runOnPTY runs tools-call steps with the terminal as stderr (toStderr) or as stdout,
	// the other stream a pipe, and returns what the terminal and the pipe got.
	runOnPTY := func(t *testing.T, toStderr bool, args ...string) (screen, piped string) {
		t.Helper()
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Skipf("no pty here: %v", err)
		}
		defer ptmx.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := e.cmd(ctx, append([]string{"@" + s, "tools-call", "steps"}, args...)...)
		var pipe bytes.Buffer
		cmd.Stdin = tty
		if toStderr {
			cmd.Stdout, cmd.Stderr = &pipe, tty
		} else {
			cmd.Stdout, cmd.Stderr = tty, &pipe
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		var term lockedBuffer
		copied := make(chan struct{})
		go func() { _, _ = io.Copy(&term, ptmx); close(copied) }()
		err = cmd.Wait()
		// The terminal's last bytes may still be in flight: wait for the line the
		// command ends with (the result on stdout, the cleared bar on stderr).
		testwait.For(t, 10*time.Second, func() error {
			want := "took 10 steps"
			if toStderr {
				want = "\x1b[2K"
			}
			if !strings.Contains(term.String(), want) {
				return fmt.Errorf("the terminal does not show %q yet:\n%q", want, term.String())
			}
			return nil
		})
		_ = ptmx.Close()
		<-copied
		if err != nil {
			t.Fatalf("tools-call steps: %v\nterminal:\n%q\npipe:\n%q", err, term.String(), pipe.String())
		}
		calls++
		return term.String(), pipe.String()
	}

	t.Run("stderr a terminal: a bar with each of the 10 steps, stdout the result alone", func(t *testing.T) {
		screen, stdout := runOnPTY(t, true, "n:=10", "ms:=150")
		if got := stepsShown(screen, 10); len(got) != 10 {
			t.Errorf("the terminal showed steps %v, want all 10:\n%q", got, screen)
		}
		if !strings.Contains(screen, "10/10") || !strings.Contains(screen, "|") {
			t.Errorf("the terminal shows no bar with a count:\n%q", screen)
		}
		if stdout != result {
			t.Errorf("stdout %q, want the result alone %q", stdout, result)
		}
	})

	t.Run("without a total: a spinner with the count and the message", func(t *testing.T) {
		screen, stdout := runOnPTY(t, true, "n:=10", "ms:=100", "total:=false")
		if got := stepsShown(screen, 10); len(got) != 10 {
			t.Errorf("the terminal showed steps %v, want all 10:\n%q", got, screen)
		}
		if strings.Contains(screen, "%") || !strings.Contains(screen, "step 10 of 10 10") {
			t.Errorf("the terminal shows a bar, or no count, for progress without a total:\n%q", screen)
		}
		if stdout != "took 10 steps\n" {
			t.Errorf("stdout %q, want the result alone", stdout)
		}
	})

	t.Run("stderr piped, stdout a terminal: no progress anywhere", func(t *testing.T) {
		screen, stderr := runOnPTY(t, false, "n:=10", "ms:=20")
		if stderr != "" {
			t.Errorf("piped stderr got %q, want nothing", stderr)
		}
		if strings.TrimSpace(screen) != strings.TrimSpace(result) {
			t.Errorf("the terminal on stdout shows %q, want the result alone", screen)
		}
	})

	t.Run("both piped: the result alone, stderr empty", func(t *testing.T) {
		r := e.ok("@"+s, "tools-call", "steps", "n:=10", "ms:=10")
		calls++
		if r.Stdout != result || r.Stderr != "" {
			t.Errorf("stdout %q, stderr %q; want the result and nothing", r.Stdout, r.Stderr)
		}
	})

	t.Run("the progress notifications are in events --notifications", func(t *testing.T) {
		// Every call above asked for progress, whatever its streams.
		testwait.For(t, 15*time.Second, func() error {
			seen := map[string]int{} // bridge token -> steps
			for _, n := range e.notifications(s) {
				if n.Method != "notifications/progress" {
					continue
				}
				msg, _ := n.Params["message"].(string)
				tok, _ := n.Params["progressToken"].(string)
				if strings.HasSuffix(msg, " of 10") && tok != "" {
					seen[tok]++
				}
			}
			complete := 0
			for _, steps := range seen {
				if steps == 10 {
					complete++
				}
			}
			if complete != calls || calls == 0 {
				return fmt.Errorf("calls with all 10 progress notifications in the notifications stream: %d, want %d (%v)", complete, calls, seen)
			}
			return nil
		})
	})
}

// TestComplete_ContextArgumentsChooseTheValues: complete --context passes the arguments
// already given, and the server's completion depends on them.
func TestComplete_ContextArgumentsChooseTheValues(t *testing.T) {
	t.Parallel()
	e := shared(t)
	s := uniqueName(t)
	connectExtras(e, s)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"prompt, with context", []string{"--prompt", "order", "dish", "t", "--context", "cuisine=japanese"}, "tempura\n"},
		{"prompt, without context", []string{"--prompt", "order", "dish", "t"}, "tacos\ntamales\ntempura\ntortas\n"},
		{"prompt, context of another cuisine", []string{"--prompt", "order", "dish", "--context", "cuisine=italian"}, "pasta\npizza\nrisotto\n"},
		{"resource template, with context", []string{"--resource", "test://menu/{cuisine}/{dish}", "dish", "t", "--context", "cuisine=mexican"}, "tacos\ntamales\ntortas\n"},
		{"resource template, without context", []string{"--resource", "test://menu/{cuisine}/{dish}", "dish", "r"}, "ramen\nrisotto\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.ok(append([]string{"@" + s, "complete"}, tc.args...)...)
			if r.Stdout != tc.want {
				t.Errorf("complete %q printed %q, want %q", tc.args, r.Stdout, tc.want)
			}
		})
	}
}
