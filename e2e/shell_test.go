package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// toolCalls reads a test server's calls log: one "tool args-as-JSON" string a call.
func toolCalls(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec struct {
			Tool string         `json:"tool"`
			Args map[string]any `json:"args"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil {
			b, _ := json.Marshal(rec.Args)
			out = append(out, rec.Tool+" "+string(b))
		}
	}
	return out
}

// ptyShell is `mcpctl @s shell` on a pseudo-terminal.
type ptyShell struct {
	t      *testing.T
	cmd    *exec.Cmd
	ptmx   *os.File
	screen *lockedBuffer
	copied chan struct{}
}

func startPtyShell(t *testing.T, e *env, args ...string) *ptyShell {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 40, Cols: 160}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := e.cmd(ctx, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	// The pty is the shell's controlling terminal, so that Ctrl-C is SIGINT, as for a person.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	p := &ptyShell{t: t, cmd: cmd, ptmx: ptmx, screen: &lockedBuffer{}, copied: make(chan struct{})}
	go p.terminal()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = ptmx.Close()
		<-p.copied
	})
	return p
}

// terminal keeps what the shell writes and answers its cursor position queries (ESC [6n)
// as a terminal would: readline waits for the answer.
func (p *ptyShell) terminal() {
	defer close(p.copied)
	buf := make([]byte, 4096)
	var tail string
	for {
		n, err := p.ptmx.Read(buf)
		if n > 0 {
			chunk := string(buf[:n])
			_, _ = p.screen.Write(buf[:n])
			for range strings.Count(tail+chunk, "\x1b[6n") - strings.Count(tail, "\x1b[6n") {
				_, _ = p.ptmx.Write([]byte("\x1b[1;1R"))
			}
			tail = chunk[max(0, len(chunk)-3):]
		}
		if err != nil {
			return
		}
	}
}

// waitScreen waits until the terminal shows want (more than `after` times).
func (p *ptyShell) waitScreen(t *testing.T, want string, after int) {
	t.Helper()
	testwait.For(t, 30*time.Second, func() error {
		if n := strings.Count(p.screen.String(), want); n <= after {
			screen := p.screen.String()
			return fmt.Errorf("the terminal shows %q %d times, want more than %d; it ends:\n%q", want, n, after, screen[max(0, len(screen)-1500):])
		}
		return nil
	})
}

// typeKeys2 types s at once, whatever the screen shows.
func (p *ptyShell) typeKeys2(t *testing.T, s string) {
	t.Helper()
	if _, err := p.ptmx.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// typeKeys types s once the prompt waits for keys (the cursor shown again, last): keys
// typed while readline still reads the answer to its cursor position query are lost, as
// they would be on a real terminal.
func (p *ptyShell) typeKeys(t *testing.T, s string) {
	t.Helper()
	testwait.For(t, 30*time.Second, func() error {
		if !strings.HasSuffix(p.screen.String(), "\x1b[?25h") {
			screen := p.screen.String()
			return fmt.Errorf("the prompt is not waiting for keys; the terminal ends:\n%q", screen[max(0, len(screen)-1500):])
		}
		return nil
	})
	if _, err := p.ptmx.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func TestShell_OnATerminal(t *testing.T) {
	e := isolated(t)
	calls := e.connectTest("sh")
	p := startPtyShell(t, e, "@sh", "shell")
	const prompt = "@sh> "
	p.waitScreen(t, prompt, 0)

	t.Run("tab completes the tool name and an argument name; the call runs", func(t *testing.T) {
		// "ech" is only echo; "te" is only its text argument, completed to text:=
		p.typeKeys(t, "tools-call ech\t")
		p.waitScreen(t, "echo", 0)
		p.typeKeys(t, "te\t")
		p.waitScreen(t, "text:=", 0)
		p.typeKeys(t, "'typed in the shell'\r")
		testwait.For(t, 30*time.Second, func() error {
			got := toolCalls(t, calls)
			if len(got) != 1 || got[0] != `echo {"text":"typed in the shell"}` {
				return fmt.Errorf("calls %q, want one echo with the typed text\nscreen:\n%q", got, p.screen.String())
			}
			return nil
		})
		p.waitScreen(t, "typed in the shell\r\n", 0) // the result, on a line of its own
	})

	t.Run("unbalanced quotes: an error, nothing sent, the shell goes on", func(t *testing.T) {
		p.typeKeys(t, "tools-call echo text:='not closed\r")
		p.waitScreen(t, "unbalanced quotes", 0)
		p.typeKeys(t, "tools-call add a:=2 b:=40\r")
		p.waitScreen(t, "42\r\n", 0)
		if got := toolCalls(t, calls); len(got) != 2 || !strings.HasPrefix(got[1], "add ") {
			t.Errorf("calls %q, want echo then add: the unbalanced line sent nothing", got)
		}
	})

	t.Run("a restart's events show as they happen", func(t *testing.T) {
		p.typeKeys(t, "restart\r")
		p.waitScreen(t, "bridge_ready generation 2", 0)
	})

	t.Run("an event while the prompt waits is printed above it; the shell goes on", func(t *testing.T) {
		e := e.on(t)
		p.typeKeys(t, "") // the prompt is back
		e.ok("restart", "@sh")
		p.waitScreen(t, "bridge_ready generation 3", 0)
		p.typeKeys(t, "tools-call add a:=20 b:=3\r")
		p.waitScreen(t, "23\r\n", 0)
	})

	t.Run("Ctrl-C cancels the running call, not the shell", func(t *testing.T) {
		p.typeKeys(t, "tools-call sleep ms:=60000\r")
		testwait.For(t, 30*time.Second, func() error {
			for _, c := range toolCalls(t, calls) {
				if strings.HasPrefix(c, "sleep ") {
					return nil
				}
			}
			return fmt.Errorf("sleep not called yet")
		})
		p.typeKeys2(t, "\x03")
		p.waitScreen(t, "cancelled", 0)
		p.typeKeys(t, "tools-call add a:=30 b:=4\r")
		p.waitScreen(t, "34\r\n", 0)
	})

	t.Run("Up brings back the last line", func(t *testing.T) {
		n := len(toolCalls(t, calls))
		p.typeKeys(t, "\x1b[A")
		p.waitScreen(t, "tools-call add a:=30 b:=4", 1) // typed once, recalled once
		p.typeKeys(t, "\r")
		testwait.For(t, 30*time.Second, func() error {
			got := toolCalls(t, calls)
			if len(got) != n+1 || got[n] != `add {"a":30,"b":4}` {
				return fmt.Errorf("calls %q, want the recalled add after the first %d", got, n)
			}
			return nil
		})
	})

	t.Run("Ctrl-D leaves; the history file is 0600 and has the lines", func(t *testing.T) {
		p.typeKeys(t, "\x04")
		done := make(chan error, 1)
		go func() { done <- p.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("shell exited: %v\n%q", err, p.screen.String())
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("the shell did not leave on Ctrl-D:\n%q", p.screen.String())
		}
		hist := filepath.Join(e.home, "shell_history")
		fi, err := os.Stat(hist)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", hist, fi.Mode().Perm())
		}
		b, _ := os.ReadFile(hist)
		if !strings.Contains(string(b), "tools-call echo text:='typed in the shell'\n") || !strings.Contains(string(b), "restart\n") ||
			!strings.Contains(string(b), "tools-call add a:=2 b:=40\n") {
			t.Errorf("history:\n%s", b)
		}
	})
}

func TestShell_LinesFromStdin(t *testing.T) {
	e := isolated(t)
	calls := e.connectTest("lines")
	in := "tools-call echo text:=\"one two\"   # a comment\n" +
		"tools-call echo 'text:=it'\\''s'\n" +
		"tools-call echo \"text:=unclosed\n" +
		"bogus-command\n" +
		"tools-call add a:=1 b:=2\n" +
		"exit\n" +
		"tools-call echo text:=after-exit\n"
	r := e.runIn([]byte(in), "@lines", "shell")
	if r.Code != 0 {
		t.Fatalf("shell: exit %d\n%s", r.Code, r.Stderr)
	}
	if r.Stdout != "one two\nit's\n3\n" {
		t.Errorf("stdout %q, want the three results", r.Stdout)
	}
	if !strings.Contains(r.Stderr, "unbalanced quotes") || !strings.Contains(r.Stderr, `unknown command "bogus-command"`) {
		t.Errorf("stderr %q: want the unbalanced line and the unknown command reported", r.Stderr)
	}
	if got := toolCalls(t, calls); len(got) != 3 {
		t.Errorf("calls %q, want 3 (nothing for the unbalanced line, nothing after exit)", got)
	}
	if r := e.run("@nosuch", "shell"); r.Code != 1 || !strings.Contains(r.Stderr, "nosuch") {
		t.Errorf("shell on a session that does not exist: exit %d, %q", r.Code, r.Stderr)
	}
	e.ok("close", "@lines")
	if r := e.runIn([]byte("tools-call add a:=1 b:=2\n"), "@lines", "shell"); r.Code != 1 || !strings.Contains(r.Stderr, "closed") {
		t.Errorf("shell on a closed session: exit %d, %q; want exit 1 saying it is closed", r.Code, r.Stderr)
	}
	if got := toolCalls(t, calls); len(got) != 3 {
		t.Errorf("calls %q after the shell on a closed session, want still 3", got)
	}
}
