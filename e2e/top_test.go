package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/subscribe"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// topTerm is the terminal `mcpctl top` draws on, as the test reads it: everything written,
// with the time each piece arrived, cut into frames (top starts each frame at the top left).
type topTerm struct {
	mu     sync.Mutex
	buf    strings.Builder
	chunks []struct {
		end int
		at  time.Time
	}
}

func (t *topTerm) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	t.chunks = append(t.chunks, struct {
		end int
		at  time.Time
	}{t.buf.Len(), time.Now()})
	return len(p), nil
}

func (t *topTerm) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

var sgr = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// frame is one screen as text: escape sequences dropped, lines trimmed.
type frame struct {
	lines []string
	at    time.Time // when its last byte arrived
}

// frames are the screens drawn so far, in order.
func (t *topTerm) frames() []frame {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.buf.String()
	var out []frame
	pos := 0
	for _, part := range strings.Split(s, "\x1b[H") {
		pos += len(part)
		var at time.Time
		for _, c := range t.chunks {
			if c.end >= pos {
				at = c.at
				break
			}
		}
		var lines []string
		for _, l := range strings.Split(part, "\r\n") {
			lines = append(lines, strings.TrimRight(sgr.ReplaceAllString(l, ""), " \r")) // the pty turns \n into \r\n
		}
		out = append(out, frame{lines: lines, at: at})
		pos += len("\x1b[H")
	}
	return out
}

// row is the line of a session in a frame, as fields (node, session, status, gen, pid, …).
func (f frame) row(session string) []string {
	for _, l := range f.lines {
		if fs := strings.Fields(l); len(fs) > 3 && fs[1] == session {
			return fs
		}
	}
	return nil
}

// find returns the first frame (after index from) where cond holds, or an error saying what
// the last frame showed.
func (t *topTerm) find(from int, cond func(frame) bool) (int, frame, error) {
	fs := t.frames()
	for i := from; i < len(fs); i++ {
		if cond(fs[i]) {
			return i, fs[i], nil
		}
	}
	if len(fs) == 0 {
		return 0, frame{}, errors.New("top drew nothing yet")
	}
	return 0, frame{}, fmt.Errorf("not on screen yet; the last frame:\n%s", strings.Join(fs[len(fs)-1].lines, "\n"))
}

// startTop runs `mcpctl top` on a 120×30 pty and returns the terminal's screen and the
// pty's terminal end (held open so its modes can be read after top exits).
func startTop(t *testing.T, e *env, flags ...string) (*exec.Cmd, *topTerm, *os.File, *os.File) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pty here: %v", err)
	}
	t.Cleanup(func() { ptmx.Close(); tty.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Cols: 120, Rows: 30}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	cmd := e.cmd(ctx, append([]string{"top"}, flags...)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	screen := &topTerm{}
	go func() { _, _ = io.Copy(screen, ptmx) }()
	return cmd, screen, ptmx, tty
}

// restored checks that top left the terminal as it found it: the alternate screen left,
// the cursor shown, echo and line editing back on.
func restored(t *testing.T, screen *topTerm, tty *os.File) {
	t.Helper()
	testwait.For(t, 10*time.Second, func() error {
		// After the restore only plain text may follow (an exit message).
		s := screen.String()
		i := strings.LastIndex(s, "\x1b[?25h\x1b[?1049l")
		if i < 0 || strings.LastIndex(s, "\x1b[?1049h") > i || strings.LastIndex(s, "\x1b[H") > i {
			return fmt.Errorf("the terminal's last bytes are %q, want the cursor shown and the alternate screen left", s[max(len(s)-80, 0):])
		}
		if rest := s[i+len("\x1b[?25h\x1b[?1049l"):]; strings.Contains(rest, "\x1b") {
			return fmt.Errorf("top wrote escape sequences after restoring the terminal: %q", rest)
		}
		return nil
	})
	tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if tio.Lflag&(unix.ECHO|unix.ICANON|unix.ISIG) != unix.ECHO|unix.ICANON|unix.ISIG {
		t.Errorf("after top the terminal's lflag is %#x: echo, canonical mode or signals still off", tio.Lflag)
	}
}

func TestTop_ShowsCrashesAndRestartsLive(t *testing.T) {
	e := isolated(t)
	for _, s := range []string{"topa", "topb", "topc"} {
		e.connectTest(s)
	}
	cmd, screen, ptmx, tty := startTop(t, e)
	status := func(f frame, s string) string {
		if r := f.row(s); r != nil {
			return r[2] + " g" + r[3]
		}
		return ""
	}
	var at int
	testwait.For(t, 30*time.Second, func() (err error) {
		at, _, err = screen.find(0, func(f frame) bool {
			return status(f, "topa") == "ready g1" && status(f, "topb") == "ready g1" && status(f, "topc") == "ready g1"
		})
		return err
	})

	t.Run("a crashed bridge: its row says crashed, then ready again, within a second of the events", func(t *testing.T) {
		pids := bridgePIDs(e.home, "topb")
		if len(pids) != 1 {
			t.Fatalf("bridges of @topb: %v, want one", pids)
		}
		if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		var crashed, back frame
		var i int
		testwait.For(t, 30*time.Second, func() (err error) {
			i, crashed, err = screen.find(at, func(f frame) bool { return status(f, "topb") == "crashed g1" })
			return err
		})
		testwait.For(t, 30*time.Second, func() (err error) {
			at, back, err = screen.find(i, func(f frame) bool { return status(f, "topb") == "ready g2" })
			return err
		})
		exited := e.sessionEvents("topb", events.KindBridgeExited)
		ready := e.sessionEvents("topb", events.KindBridgeReady)
		if len(exited) != 1 || len(ready) != 2 {
			t.Fatalf("@topb: %d bridge_exited, %d bridge_ready; want 1 and 2", len(exited), len(ready))
		}
		if d := crashed.at.Sub(exited[0].Time); d > time.Second {
			t.Errorf("top showed the crash %s after the bridge_exited event, want within a second", d)
		}
		if d := back.at.Sub(ready[1].Time); d > time.Second {
			t.Errorf("top showed generation 2 ready %s after its bridge_ready, want within a second", d)
		}
		if r := back.row("topb"); len(r) < 8 || r[7] != "1" {
			t.Errorf("@topb's row after the crash is %q; want 1 crash in the last hour (column CRSH)", r)
		}
	})

	t.Run("r on a row, confirmed: one restart_requested, the row at the next generation", func(t *testing.T) {
		for _, k := range []string{"\x1b[B", "\x1b[B", "r"} { // topa → topb → topc
			if _, err := ptmx.Write([]byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		testwait.For(t, 10*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool {
				return len(f.lines) > 0 && strings.Contains(f.lines[len(f.lines)-1], "restart @topc? y/n")
			})
			return err
		})
		if n := len(e.sessionEvents("topc", events.KindRestartRequested)); n != 0 {
			t.Fatalf("@topc has %d restart_requested before the confirmation", n)
		}
		if _, err := ptmx.Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 30*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool { return status(f, "topc") == "ready g2" })
			return err
		})
		rr := e.sessionEvents("topc", events.KindRestartRequested)
		if len(rr) != 1 || rr[0].Reason != "explicit: mcpctl top" {
			t.Errorf("@topc: %d restart_requested (%+v), want one, explicit: mcpctl top", len(rr), rr)
		}
		if n := len(e.sessionEvents("topa", events.KindRestartRequested)); n != 0 {
			t.Errorf("@topa, not selected, got %d restart_requested", n)
		}
	})

	t.Run("c, not confirmed: nothing appended", func(t *testing.T) {
		before := len(e.sessionEvents("topc"))
		if _, err := ptmx.Write([]byte("c")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool {
				return len(f.lines) > 0 && strings.Contains(f.lines[len(f.lines)-1], "close @topc? y/n")
			})
			return err
		})
		if _, err := ptmx.Write([]byte("n")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool {
				return len(f.lines) > 0 && strings.Contains(f.lines[len(f.lines)-1], "close @topc: not confirmed")
			})
			return err
		})
		if after := len(e.sessionEvents("topc")); after != before {
			t.Errorf("@topc had %d events before an unconfirmed close, %d after", before, after)
		}
	})

	t.Run("l: the selected session's log in the pane, l again: its events", func(t *testing.T) {
		if _, err := ptmx.Write([]byte("l")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool {
				return slices.ContainsFunc(f.lines, func(l string) bool { return strings.HasPrefix(l, "── @topc: log (l: events)") })
			})
			return err
		})
		if _, err := ptmx.Write([]byte("l")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 10*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool {
				return slices.ContainsFunc(f.lines, func(l string) bool { return strings.HasPrefix(l, "── @topc: recent events (l: log)") }) &&
					slices.ContainsFunc(f.lines, func(l string) bool { return strings.Contains(l, `restart_requested reason="explicit: mcpctl top"`) })
			})
			return err
		})
	})

	t.Run("c on @topa, confirmed: closed through the CLI's path", func(t *testing.T) {
		for _, k := range []string{"k", "k", "c"} { // topc → topb → topa
			if _, err := ptmx.Write([]byte(k)); err != nil {
				t.Fatal(err)
			}
		}
		testwait.For(t, 10*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool {
				return len(f.lines) > 0 && strings.Contains(f.lines[len(f.lines)-1], "close @topa? y/n")
			})
			return err
		})
		if _, err := ptmx.Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
		testwait.For(t, 30*time.Second, func() (err error) {
			at, _, err = screen.find(at, func(f frame) bool { return strings.HasPrefix(status(f, "topa"), "closed") })
			return err
		})
		cl := e.sessionEvents("topa", events.KindClosed)
		if len(cl) != 1 || cl[0].Reason != "explicit: mcpctl top" {
			t.Errorf("@topa: %d closed (%+v), want one, explicit: mcpctl top", len(cl), cl)
		}
		if s, ok := e.session("topb"); !ok || s.Status != "ready" {
			t.Errorf("@topb after closing @topa: %+v", s)
		}
	})

	t.Run("q: exit 0, the terminal restored", func(t *testing.T) {
		if _, err := ptmx.Write([]byte("q")); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("top after q: %v\n%q", err, screen.String())
		}
		restored(t, screen, tty)
	})
}

func TestTop_SIGTERMRestoresTheTerminal(t *testing.T) {
	e := isolated(t)
	e.connectTest("topterm")
	cmd, screen, _, tty := startTop(t, e)
	testwait.For(t, 30*time.Second, func() error {
		_, _, err := screen.find(0, func(f frame) bool { return f.row("topterm") != nil })
		return err
	})
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 143 {
		t.Errorf("top after SIGTERM: %v, want exit 143", err)
	}
	restored(t, screen, tty)
}

func TestTop_NotOnATerminal(t *testing.T) {
	e := isolated(t)
	r := e.run("top")
	if r.Code != 1 || !strings.Contains(r.Stderr, "needs a terminal") || r.Stdout != "" {
		t.Errorf("top with stdout on a pipe: want exit 1 and a plain message\n%s", r)
	}
}

func TestTop_SaysWhenTheHubDies(t *testing.T) {
	e := isolated(t)
	e.connectTest("tophub")
	cmd, screen, _, tty := startTop(t, e)
	testwait.For(t, 30*time.Second, func() error {
		_, _, err := screen.find(0, func(f frame) bool { return f.row("tophub") != nil })
		return err
	})
	hub := theHub(t, e.home)
	if err := syscall.Kill(hub.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("top after its hub died: %v, want exit 3", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("top still runs 30s after its hub was killed:\n%q", screen.String())
	}
	restored(t, screen, tty)
	if s := screen.String(); !strings.Contains(s, "top: lost the hub") {
		t.Errorf("top's last words do not mention the hub: %q", s[max(len(s)-200, 0):])
	}
}

func TestTop_ResizeStormToATinyTerminal(t *testing.T) {
	e := isolated(t)
	e.connectTest("topwinch")
	cmd, screen, ptmx, tty := startTop(t, e)
	testwait.For(t, 30*time.Second, func() error {
		_, _, err := screen.find(0, func(f frame) bool { return f.row("topwinch") != nil })
		return err
	})
	// 200 size changes (each a SIGWINCH to top), ending at 20×5.
	for i := range 200 {
		ws := &pty.Winsize{Cols: 120, Rows: 30}
		if i%2 == 1 {
			ws = &pty.Winsize{Cols: 20, Rows: 5}
		}
		if err := pty.Setsize(ptmx, ws); err != nil {
			t.Fatal(err)
		}
	}
	tiny := func(f frame) error {
		if len(f.lines) != 5 {
			return fmt.Errorf("%d lines, want 5: %q", len(f.lines), f.lines)
		}
		for _, l := range f.lines {
			if n := len([]rune(l)); n > 20 {
				return fmt.Errorf("a line of %d columns on a 20-column terminal: %q", n, l)
			}
		}
		return nil
	}
	// Press a key that changes nothing, so a frame is drawn after the storm for sure.
	if _, err := ptmx.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 10*time.Second, func() error {
		fs := screen.frames()
		return tiny(fs[len(fs)-1])
	})
	// One read of the frames: another frame may be drawn between two reads.
	fs := screen.frames()
	if last := fs[len(fs)-1].lines; len(last) < 5 || !strings.HasPrefix(last[4], "q quit") {
		t.Errorf("the 20×5 screen's last line is not the keys' help: %q", last)
	}
	if _, err := ptmx.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("top after the storm and q: %v", err)
	}
	restored(t, screen, tty)
}

func TestTop_ShowsCallFigures(t *testing.T) {
	e := isolated(t)
	e.connectTest("topcalls")
	for range 5 {
		e.ok("@topcalls", "tools-call", "add", "a:=2", "b:=40")
	}
	// The bridge publishes its figures once a minute with calls, and when it ends: a
	// restart ends it now.
	e.ok("restart", "@topcalls")
	var stats events.CallStats
	testwait.For(t, 30*time.Second, func() error {
		r := e.ok("events", "--notifications", "--session", "topcalls", "--type", "notification", "--json")
		for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
			var n struct {
				Method string          `json:"method"`
				Params json.RawMessage `json:"params"`
			}
			if json.Unmarshal([]byte(line), &n) == nil && n.Method == events.CallStatsMethod {
				return json.Unmarshal(n.Params, &stats)
			}
		}
		return fmt.Errorf("no %s notification of @topcalls yet:\n%s", events.CallStatsMethod, r.Stdout)
	})
	if stats.Calls != 5 || stats.Errors != 0 || stats.QuantileMs(0.9) <= 0 {
		t.Errorf("generation 1's figures: %+v; want 5 calls, no errors, a p90", stats)
	}
	cmd, screen, ptmx, _ := startTop(t, e)
	testwait.For(t, 30*time.Second, func() error {
		_, _, err := screen.find(0, func(f frame) bool {
			r := f.row("topcalls")
			return len(r) > 10 && r[8] != "-" && strings.HasPrefix(r[9], "≤") && strings.HasPrefix(r[10], "≤")
		})
		return err
	})
	if _, err := ptmx.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("top after q: %v", err)
	}
}

func TestTop_NodeSelectsWhoseSessions(t *testing.T) {
	e := isolated(t)
	e.connectTest("topnode")
	for _, tc := range []struct {
		flags []string
		title string
		rows  int
	}{
		{nil, "mcpctl top  e2e  1 session(s)", 1},
		{[]string{"--node", "elsewhere"}, "mcpctl top  elsewhere  0 session(s)", 0},
		{[]string{"--all-nodes"}, "mcpctl top  all nodes  1 session(s)", 1},
	} {
		t.Run(strings.Join(append([]string{"top"}, tc.flags...), " "), func(t *testing.T) {
			cmd, screen, ptmx, _ := startTop(t, e, tc.flags...)
			testwait.For(t, 30*time.Second, func() error {
				_, _, err := screen.find(0, func(f frame) bool {
					return len(f.lines) > 0 && strings.HasPrefix(f.lines[0], tc.title) && (f.row("topnode") != nil) == (tc.rows == 1)
				})
				return err
			})
			if _, err := ptmx.Write([]byte("q")); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("top %v after q: %v", tc.flags, err)
			}
		})
	}
	if r := e.run("top", "--node", "a.b"); r.Code != 1 || !strings.Contains(r.Stderr, "top --node") {
		t.Errorf("top --node a.b (not a node name): want exit 1\n%s", r)
	}
}

// A program may give a restart any reason (events/subscribe), and a server writes what it
// likes to its stderr (the session log): top shows both escaped, never as terminal controls.
func TestTop_EscapesControlCharactersFromEventsAndLogs(t *testing.T) {
	e := isolated(t)
	e.connectTest("topesc")
	const hostile = "\x1b]0;owned\x07\x1b[6n\x1b[31mred" // a title, a cursor query, a colour
	cmd, screen, ptmx, _ := startTop(t, e)
	testwait.For(t, 30*time.Second, func() error {
		_, _, err := screen.find(0, func(f frame) bool { return f.row("topesc") != nil })
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := subscribe.Connect(ctx, subscribe.Config{Home: e.home, Node: e.node})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, started, err := c.Restart(ctx, "topesc", hostile); err != nil || !started {
		t.Fatalf("restart with a hostile reason: started %t, %v", started, err)
	}
	log, err := os.OpenFile(filepath.Join(e.home, "logs", "sessions", "topesc.log"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := log.WriteString("server says " + hostile + "\n"); err != nil {
		t.Fatal(err)
	}
	log.Close()
	testwait.For(t, 30*time.Second, func() error {
		_, _, err := screen.find(0, func(f frame) bool {
			return slices.ContainsFunc(f.lines, func(l string) bool { return strings.Contains(l, `reason="\x1b]0;owned\a\x1b[6n\x1b[31mred"`) })
		})
		return err
	})
	if _, err := ptmx.Write([]byte("l")); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, 30*time.Second, func() error {
		_, _, err := screen.find(0, func(f frame) bool {
			return slices.ContainsFunc(f.lines, func(l string) bool { return strings.Contains(l, `server says \x1b]0;owned\a\x1b[6n\x1b[31mred`) })
		})
		return err
	})
	if _, err := ptmx.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("top after q: %v", err)
	}
	for _, raw := range []string{"\x1b]0;owned", "\x1b[6n", "\x1b[31mred", "\x07"} {
		if strings.Contains(screen.String(), raw) {
			t.Errorf("top sent %q to the terminal raw", raw)
		}
	}
}
