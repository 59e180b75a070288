package top

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"

	"github.com/spf13/cobra"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// lifeOf is a session connected, ready, crashed (server_lost) and restarted by policy.
func lifeOf(name string) []events.Event {
	var seq uint64
	ev := func(k events.Kind, g uint64, d time.Duration, edit func(*events.Event)) events.Event {
		seq++
		e := events.Event{V: 1, Type: k, Node: "n", Session: name, Generation: g, Time: t0.Add(d), Seq: seq}
		if edit != nil {
			edit(&e)
		}
		return e
	}
	return []events.Event{
		ev(events.KindCreated, 1, 0, func(e *events.Event) { e.Server = &events.Server{Transport: events.TransportStdio, Command: "x"} }),
		ev(events.KindBridgeSpawned, 1, time.Millisecond, func(e *events.Event) { e.PID = 41 }),
		ev(events.KindBridgeReady, 1, 2*time.Millisecond, nil),
		ev(events.KindServerLost, 1, time.Second, func(e *events.Event) { e.Error = "exit status 7" }),
		ev(events.KindRestartRequested, 2, 1100*time.Millisecond, func(e *events.Event) { e.Reason = "restart policy on-failure" }),
		ev(events.KindBridgeSpawned, 2, 1101*time.Millisecond, func(e *events.Event) { e.PID = 42 }),
		ev(events.KindBridgeReady, 2, 1102*time.Millisecond, nil),
	}
}

func TestBoard_FoldsTheStream(t *testing.T) {
	b := newBoard()
	evs := lifeOf("s")
	for _, e := range evs[:4] {
		b.apply(e, t0.Add(time.Minute))
	}
	r := b.rows["n/s"]
	if r.s.Status != projector.StatusCrashed || len(r.crashes) != 1 {
		t.Fatalf("after server_lost: status %s, %d crash(es); want crashed, 1", r.s.Status, len(r.crashes))
	}
	for _, e := range evs[4:] {
		b.apply(e, t0.Add(time.Minute))
	}
	if r.s.Status != projector.StatusReady || r.s.Generation != 2 || len(r.restarts) != 1 {
		t.Errorf("after the policy restart: %s g%d, %d restart(s); want ready g2, 1", r.s.Status, r.s.Generation, len(r.restarts))
	}
	// The same events again (the stored state already holds them): not folded twice.
	for _, e := range evs {
		b.apply(e, t0.Add(time.Minute))
	}
	if r.s.Generation != 2 || r.s.Crashes != 1 {
		t.Errorf("events applied twice changed the state: g%d, %d crashes", r.s.Generation, r.s.Crashes)
	}
	// Two hours on, nothing is counted in the last hour.
	b.apply(events.Event{V: 1, Type: events.KindServerAsked, Node: "n", Session: "s", Generation: 2, Seq: 99, Time: t0.Add(2 * time.Hour)}, t0.Add(2*time.Hour))
	if len(r.restarts) != 0 || len(r.crashes) != 0 {
		t.Errorf("two hours later: %d restarts, %d crashes in the last hour; want 0", len(r.restarts), len(r.crashes))
	}
}

func TestBoard_Render(t *testing.T) {
	b := newBoard()
	for _, name := range []string{"a", "b", "c"} {
		for _, e := range lifeOf(name) {
			b.apply(e, t0)
		}
	}
	hostile := events.Event{V: 1, Type: events.KindBridgeStopping, Node: "n", Session: "b", Generation: 2, Seq: 100, Time: t0,
		Reason: "\x1b]0;owned\x07\x1b[31mred\r\n\x9b1m", Error: "bad \xff utf-8"}
	b.apply(hostile, t0)
	b.apply(events.Event{V: 1, Type: events.KindBridgeStopping, Node: "n", Session: "a", Generation: 2, Seq: 101, Time: t0,
		Reason: "\x1b]0;owned\x07"}, t0)

	for _, size := range []struct{ w, h int }{{120, 30}, {80, 24}, {20, 5}, {1, 1}, {5, 2}, {200, 3}} {
		for _, color := range []bool{false, true} {
			lines := b.render(size.w, size.h, "n", t0, color)
			if len(lines) != size.h {
				t.Errorf("%dx%d: %d lines, want %d", size.w, size.h, len(lines), size.h)
			}
			for i, l := range lines {
				plain := l
				if color {
					plain = sgrRE(l)
				}
				if n := utf8.RuneCountInString(plain); n > size.w {
					t.Errorf("%dx%d: line %d is %d columns wide: %q", size.w, size.h, i, n, plain)
				}
				if strings.ContainsFunc(plain, func(r rune) bool { return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) }) {
					t.Errorf("%dx%d color=%t: line %d holds a control character: %q", size.w, size.h, color, i, l)
				}
			}
		}
	}
	screen := strings.Join(b.render(200, 30, "n", t0, false), "\n")
	if got := safe("n\x1b[2J\x9b\u009b"); got != `n\x1b[2J\x9b\u009b` {
		t.Errorf("safe(a node with escapes) = %q", got)
	}
	for _, want := range []string{`\x1b]0;owned\a`, `\xff utf-8`, "restart policy on-failure"} {
		if !strings.Contains(screen, want) {
			t.Errorf("the screen does not show %q escaped:\n%s", want, screen)
		}
	}
	if !strings.Contains(screen, "ready") || !strings.Contains(screen, "a                    ready") {
		t.Errorf("the screen does not list @a ready:\n%s", screen)
	}
}

// sgrRE drops the colour sequences render itself writes.
func sgrRE(s string) string {
	for {
		i := strings.Index(s, "\x1b[")
		if i < 0 {
			return s
		}
		j := strings.IndexByte(s[i:], 'm')
		if j < 0 {
			return s
		}
		s = s[:i] + s[i+j+1:]
	}
}

func TestBoard_Keys(t *testing.T) {
	b := newBoard()
	for _, name := range []string{"a", "b"} {
		for _, e := range lifeOf(name) {
			b.apply(e, t0)
		}
	}
	if a, q := b.key("r"); a != nil || q || b.confirm == nil || b.confirm.Session != "a" {
		t.Fatalf("r on the first row: action %+v quit %t confirm %+v; want a question about @a", a, q, b.confirm)
	}
	if a, _ := b.key("n"); a != nil || b.confirm != nil {
		t.Errorf("n: action %+v, confirm %+v; want neither", a, b.confirm)
	}
	b.key("down")
	b.key("c")
	a, q := b.key("y")
	if q || a == nil || a.Kind != 'c' || a.Session != "b" || a.Node != "n" {
		t.Errorf("down, c, y: action %+v, quit %t; want close @b on n", a, q)
	}
	b.key("down") // past the last row: stays
	if b.selected != "n/b" {
		t.Errorf("selected %q after moving past the end, want n/b", b.selected)
	}
	if _, q := b.key("q"); !q {
		t.Errorf("q does not quit")
	}
	if _, q := b.key("ctrl-c"); !q {
		t.Errorf("ctrl-c does not quit")
	}
}

func TestParseKeys(t *testing.T) {
	got := strings.Join(parseKeys([]byte("j\x1b[A\x1bOBq\x03\x1b[1;5Cr\x1b")), ",")
	if want := "j,up,down,q,ctrl-c,r,esc"; got != want {
		t.Errorf("parseKeys = %s, want %s", got, want)
	}
}

func TestTop_RefusesWhatIsNotATerminal(t *testing.T) {
	h := cmdtest.New(t)
	r := h.Run(t, newTop, "", "top")
	if r.Code != 1 || !strings.Contains(r.ErrOut, "needs a terminal") || r.Out != "" {
		t.Errorf("top on buffers: exit %d, stdout %q, stderr %q; want 1 and a plain message", r.Code, r.Out, r.ErrOut)
	}
	r = h.Run(t, newTop, "", "top", "--node", "x", "--all-nodes")
	if r.Code != 1 || !strings.Contains(r.ErrOut, "cannot be used together") {
		t.Errorf("top --node x --all-nodes: exit %d, stderr %q; want 1", r.Code, r.ErrOut)
	}
}

func newTop(f *cmdkit.Factory) *cobra.Command { return NewCmdTop(f, nil) }

func TestBoard_CallFigures(t *testing.T) {
	b := newBoard()
	for _, e := range lifeOf("s") {
		b.apply(e, t0)
	}
	c := events.NewCallStats(t0)
	for range 9 {
		c.Add(3*time.Millisecond, false)
	}
	c.Add(150*time.Millisecond, false)
	c.Period = 30 * time.Second
	params, _ := json.Marshal(c)
	b.callStats("n", "s", params)
	row := func(now time.Time) []string {
		for _, l := range b.render(200, 10, "n", now, false) {
			if fs := strings.Fields(l); len(fs) > 10 && fs[1] == "s" {
				return fs
			}
		}
		t.Fatalf("no row for @s")
		return nil
	}
	if got := row(t0.Add(time.Minute))[8:11]; strings.Join(got, " ") != "20 ≤5ms ≤5ms" {
		t.Errorf("CALL/m P50 P90 = %q, want 20 ≤5ms ≤5ms", got)
	}
	older := events.NewCallStats(t0.Add(-time.Hour))
	older.Add(time.Second, false)
	params, _ = json.Marshal(older)
	b.callStats("n", "s", params) // read late: does not replace the newer figures
	if got := row(t0.Add(time.Minute))[8]; got != "20" {
		t.Errorf("after an older period arrived, CALL/m = %q, want 20", got)
	}
	if got := row(t0.Add(10 * time.Minute))[8:11]; strings.Join(got, " ") != "- - -" {
		t.Errorf("ten minutes later CALL/m P50 P90 = %q, want - - - (stale)", got)
	}
}

func TestBoard_CountsTheHourAlreadyInTheStoredState(t *testing.T) {
	// A bridge killed (no stop, no code), then a policy restart; another generation stopped
	// on purpose with code 0; all before top started: the stored state holds them.
	var seq uint64
	ev := func(k events.Kind, g uint64, edit func(*events.Event)) events.Event {
		seq++
		e := events.Event{V: 1, Type: k, Node: "n", Session: "s", Generation: g, Time: t0.Add(time.Duration(seq) * time.Second), Seq: seq}
		if edit != nil {
			edit(&e)
		}
		return e
	}
	zero := 0
	evs := []events.Event{
		ev(events.KindCreated, 1, func(e *events.Event) { e.Server = &events.Server{Transport: events.TransportStdio, Command: "x"} }),
		ev(events.KindBridgeSpawned, 1, func(e *events.Event) { e.PID = 41 }),
		ev(events.KindBridgeReady, 1, nil),
		ev(events.KindBridgeExited, 1, func(e *events.Event) { e.PID, e.Signal = 41, "killed" }),
		ev(events.KindRestartRequested, 2, func(e *events.Event) { e.Reason = "restart policy on-failure" }),
		ev(events.KindBridgeSpawned, 2, func(e *events.Event) { e.PID = 42 }),
		ev(events.KindBridgeReady, 2, nil),
		ev(events.KindRestartRequested, 3, func(e *events.Event) { e.Reason = "explicit: mcpctl restart" }),
		ev(events.KindBridgeStopping, 2, func(e *events.Event) { e.Reason = "superseded" }),
		ev(events.KindBridgeExited, 2, func(e *events.Event) { e.PID, e.Code = 42, &zero }),
		ev(events.KindBridgeSpawned, 3, func(e *events.Event) { e.PID = 43 }),
		ev(events.KindBridgeReady, 3, nil),
	}
	var stored projector.Session
	for _, e := range evs {
		stored = projector.Apply(stored, e)
	}
	live, fromStore := newBoard(), newBoard()
	fromStore.load([]projector.Session{stored})
	for _, e := range evs {
		live.apply(e, t0.Add(time.Minute))
		fromStore.apply(e, t0.Add(time.Minute))
	}
	for name, b := range map[string]*board{"folded live": live, "from the stored state": fromStore} {
		r := b.rows["n/s"]
		if len(r.crashes) != 1 || len(r.restarts) != 2 || r.s.Generation != 3 || r.s.Status != projector.StatusReady {
			t.Errorf("%s: %d crash(es), %d restart(s), %s g%d; want 1, 2, ready g3", name, len(r.crashes), len(r.restarts), r.s.Status, r.s.Generation)
		}
	}
}

// TestGuard_HandsAPanicToTheMainLoop: a goroutine's panic reaches the channel the main loop
// reads (which restores the terminal, then panics with it) instead of ending the process.
func TestGuard_HandsAPanicToTheMainLoop(t *testing.T) {
	crashed := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer guard(crashed)
		panic("boom")
	}()
	<-done
	select {
	case p := <-crashed:
		if !strings.HasPrefix(p, "top: boom\n") || !strings.Contains(p, "goroutine") {
			t.Errorf("handed %q, want the panic and its stack", p)
		}
	default:
		t.Fatal("the panic was not handed over")
	}
}
