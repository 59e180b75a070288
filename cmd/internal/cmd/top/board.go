package top

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mcpctl/mcpctl/cmd/internal/cmd/sessions"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// window is how far back restarts and crashes are counted.
const window = time.Hour

// recentKept is how many events of each session the detail pane can show.
const recentKept = 64

// board is what top shows, folded from the event stream: each session's state (by
// projector.Apply, the one definition of state), its recent events, and when it was
// restarted or crashed within the window. It does no I/O; render draws it as lines.
type board struct {
	rows     map[string]*row // by node + "/" + session
	selected string          // key of the selected row ("" : the first)
	// showLog switches the detail pane from the selected session's events to its log tail.
	showLog bool
	// confirm is the action waiting for y/n, message the last outcome to show.
	confirm *action
	message string
}

type row struct {
	s        projector.Session
	recent   []events.Event
	restarts []time.Time
	crashes  []time.Time
	// logTail is the end of the session's log, read by the loop when the pane shows it.
	logTail []string
	// calls are the latest call figures its bridge published (zero Calls: none known).
	calls events.CallStats
}

// action is a key's request on a session, once confirmed.
type action struct {
	Kind          byte // 'r' restart, 'c' close
	Node, Session string
}

func newBoard() *board { return &board{rows: map[string]*row{}} }

func rowKey(node, name string) string { return node + "/" + name }

// load starts the board from the stored projection (sessions whose events may have aged
// out of the log's retention).
func (b *board) load(ss []projector.Session) {
	for _, s := range ss {
		if s.Name == events.ProfilesSession {
			continue
		}
		b.rows[rowKey(s.Node, s.Name)] = &row{s: s}
	}
}

// apply folds one event. Events the stored state already holds (seq at or below its
// LastSeq) still count as recent history, but are not folded twice.
func (b *board) apply(e events.Event, now time.Time) {
	if e.Type == "" || e.Session == events.ProfilesSession || e.Session == "" {
		return
	}
	k := rowKey(e.Node, e.Session)
	r := b.rows[k]
	if r == nil {
		r = &row{s: projector.Session{Node: e.Node, Name: e.Session}}
		b.rows[k] = r
	}
	r.recent = append(r.recent, e)
	if len(r.recent) > recentKept {
		r.recent = slices.Delete(r.recent, 0, len(r.recent)-recentKept)
	}
	if e.Seq > r.s.LastSeq {
		before := r.s
		r.s = projector.Apply(r.s, e)
		if r.s.Crashes > before.Crashes && !e.Time.IsZero() {
			r.crashes = append(r.crashes, e.Time)
		}
		if r.s.Restarts > before.Restarts && !e.Time.IsZero() {
			r.restarts = append(r.restarts, e.Time)
		}
	} else {
		// Already in the stored state (read before top started): the state before it is
		// not known, so count from the events themselves, as the fold would have.
		switch {
		case e.Type == events.KindRestartRequested:
			r.restarts = append(r.restarts, e.Time)
		case e.Type == events.KindServerLost || e.Type == events.KindSpawnFailed || unannouncedExit(r.recent, e):
			r.crashes = append(r.crashes, e.Time)
		}
	}
	r.restarts, r.crashes = within(r.restarts, now), within(r.crashes, now)
}

// unannouncedExit says whether e, the last of recent, is a bridge_exited the fold counts
// as a crash: of the newest generation requested so far, not code 0, and with nothing
// before it in the generation that explains it (a stop, a lost server, which was counted
// already, an expiry, a refusal, a close).
func unannouncedExit(recent []events.Event, e events.Event) bool {
	if e.Type != events.KindBridgeExited || (e.Code != nil && *e.Code == 0) {
		return false
	}
	for _, p := range recent[:len(recent)-1] {
		switch {
		case (p.Type == events.KindRestartRequested || p.Type == events.KindCreated) && p.Generation > e.Generation:
			return false // superseded
		case p.Type == events.KindClosed && p.Generation >= e.Generation:
			return false
		case p.Generation == e.Generation && (p.Type == events.KindBridgeStopping || p.Type == events.KindServerLost ||
			p.Type == events.KindSpawnFailed || p.Type == events.KindExpired || p.Type == events.KindUnauthorized || p.Type == events.KindFailed):
			return false
		}
	}
	return true
}

// callStats takes a bridge's call figures (events.CallStatsMethod notifications).
func (b *board) callStats(node, session string, params []byte) {
	var c events.CallStats
	if json.Unmarshal(params, &c) != nil || c.Calls <= 0 {
		return
	}
	r := b.rows[rowKey(node, session)]
	if r == nil {
		r = &row{s: projector.Session{Node: node, Name: session}}
		b.rows[rowKey(node, session)] = r
	}
	if c.Start.Before(r.calls.Start) {
		return // an older period, read late
	}
	r.calls = c
}

// callStale is how long call figures are shown after their period ended: a bridge
// publishes every minute it has calls, so older figures describe a session gone quiet.
const callStale = 3 * time.Minute

func within(ts []time.Time, now time.Time) []time.Time {
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > window {
		i++
	}
	return ts[i:]
}

// visible is the rows shown, in order: sessions not cleaned, by node and name.
func (b *board) visible() []string {
	var ks []string
	for k, r := range b.rows {
		if !r.s.Cleaned && r.s.Status != "" {
			ks = append(ks, k)
		}
	}
	slices.Sort(ks)
	return ks
}

// current is the selected row (nil: none visible).
func (b *board) current() *row {
	ks := b.visible()
	if len(ks) == 0 {
		return nil
	}
	if !slices.Contains(ks, b.selected) {
		b.selected = ks[0]
	}
	return b.rows[b.selected]
}

func (b *board) move(d int) {
	ks := b.visible()
	if len(ks) == 0 {
		return
	}
	i := max(slices.Index(ks, b.selected), 0)
	b.selected = ks[min(max(i+d, 0), len(ks)-1)]
}

// key handles one key press. It returns the action to carry out (confirmed) and whether
// top should end.
func (b *board) key(k string) (act *action, quit bool) {
	if b.confirm != nil {
		a := b.confirm
		b.confirm = nil
		if k == "y" || k == "Y" {
			b.message = verb(a.Kind) + " @" + a.Session + "…"
			return a, false
		}
		b.message = verb(a.Kind) + " @" + a.Session + ": not confirmed"
		return nil, k == "ctrl-c"
	}
	switch k {
	case "q", "ctrl-c":
		return nil, true
	case "up", "k":
		b.move(-1)
	case "down", "j":
		b.move(1)
	case "l":
		b.showLog = !b.showLog
	case "r", "c":
		if r := b.current(); r != nil {
			b.confirm = &action{Kind: k[0], Node: r.s.Node, Session: r.s.Name}
		}
	}
	return nil, false
}

func verb(k byte) string {
	if k == 'c' {
		return "close"
	}
	return "restart"
}

// render draws the board in a w×h terminal: one string per line, each at most w columns
// (every field escaped: nothing from an event reaches the terminal as a control character).
func (b *board) render(w, h int, node string, now time.Time, color bool) []string {
	if w < 1 || h < 1 {
		return nil
	}
	paint := func(code, s string) string {
		if !color || code == "" {
			return s
		}
		return "\x1b[" + code + "m" + s + "\x1b[0m"
	}
	ks := b.visible()
	cur := b.current()
	var lines []string
	add := func(code, s string) { lines = append(lines, paint(code, clip(s, w))) }

	add("1", fmt.Sprintf("mcpctl top  %s  %d session(s)  %s", node, len(ks), now.Local().Format("15:04:05")))
	cols := "%-10s %-20s %-10s %4s %7s %8s %4s %4s %6s %7s %7s  %s"
	add("7", fmt.Sprintf(cols, "NODE", "SESSION", "STATUS", "GEN", "PID", "UPTIME", "RST", "CRSH", "CALL/m", "P50", "P90", "LAST EVENT"))

	footer := "q quit  ↑↓ select  r restart  c close  l log/events"
	switch {
	case b.confirm != nil:
		footer = fmt.Sprintf("%s @%s? y/n", verb(b.confirm.Kind), safe(b.confirm.Session))
	case b.message != "":
		footer = b.message + "   (" + footer + ")"
	}
	// Rows get what is left after the title, the header and the footer; the detail pane
	// only what the rows do not need, and only on a terminal tall enough for it.
	room := h - 3
	detail := 0
	if h >= 12 {
		detail = max(h-3-len(ks)-1, (h-3)/2)
		detail = min(detail, h-3-1)
		room = h - 3 - detail
	}
	first := 0
	if i := slices.Index(ks, b.selected); i >= room && room > 0 {
		first = i - room + 1
	}
	for i := first; i < len(ks) && i-first < room; i++ {
		r := b.rows[ks[i]]
		s := r.s
		pid, up := "-", "-"
		if s.Bridge != nil && s.Bridge.PID != 0 {
			pid = strconv.Itoa(s.Bridge.PID)
		}
		if s.Status == projector.StatusReady && !s.ReadyAt.IsZero() {
			up = short(now.Sub(s.ReadyAt))
		}
		last := "-"
		if n := len(r.recent); n > 0 {
			last = eventLine(r.recent[n-1])
		}
		status := fmt.Sprintf("%-10s", safe(string(s.Status)))
		line := fmt.Sprintf("%-10s %-20s ", safe(s.Node), safe(s.Name))
		rate, p50, p90 := "-", "-", "-"
		if c := r.calls; c.Calls > 0 && now.Sub(c.Start.Add(c.Period)) < callStale {
			rate, p50, p90 = strconv.Itoa(int(c.PerMinute()+0.5)), ms(c.QuantileMs(0.5)), ms(c.QuantileMs(0.9))
		}
		rest := fmt.Sprintf(" %4d %7s %8s %4d %4d %6s %7s %7s  %s", s.Generation, pid, up, len(within(r.restarts, now)), len(within(r.crashes, now)),
			rate, p50, p90, last)
		text := clip(line+status+rest, w)
		switch {
		case ks[i] == b.selected:
			text = paint("7", text)
		case color && utf8.RuneCountInString(text) >= len(line)+len(status):
			// Colour only the status column, and only when it is whole on screen.
			text = text[:len(line)] + paint(sessions.StatusColor(s.Status), status) + text[len(line)+len(status):]
		}
		lines = append(lines, text)
	}
	for len(lines) < 2+room {
		lines = append(lines, "")
	}
	if detail > 0 && cur != nil {
		title := fmt.Sprintf("── @%s: recent events (l: log) ", safe(cur.s.Name))
		body := make([]string, 0, len(cur.recent))
		for _, e := range cur.recent {
			body = append(body, eventLine(e))
		}
		if b.showLog {
			title = fmt.Sprintf("── @%s: log (l: events) ", safe(cur.s.Name))
			body = body[:0]
			for _, l := range cur.logTail {
				body = append(body, safe(l))
			}
		}
		add("2", title+strings.Repeat("─", max(w-utf8.RuneCountInString(title), 0)))
		n := detail - 1
		if len(body) > n {
			body = body[len(body)-n:]
		}
		for _, l := range body {
			add("", l)
		}
	}
	for len(lines) < h-1 {
		lines = append(lines, "")
	}
	lines = lines[:h-1]
	if h == 1 {
		lines = lines[:0]
	}
	lines = append(lines, paint("7", clip(footer, w)))
	return lines
}

// eventLine is one event in a line: time, generation, kind and what it says.
func eventLine(e events.Event) string {
	s := fmt.Sprintf("%s g%d %s", e.Time.Local().Format("15:04:05.000"), e.Generation, e.Type)
	if e.PID != 0 {
		s += " pid=" + strconv.Itoa(e.PID)
	}
	if e.Code != nil {
		s += " code=" + strconv.Itoa(*e.Code)
	}
	if e.Signal != "" {
		s += " signal=" + e.Signal
	}
	if e.Reason != "" {
		s += " reason=" + strconv.Quote(e.Reason)
	}
	if e.Error != "" {
		s += " error=" + strconv.Quote(e.Error)
	}
	return safe(s)
}

// safe writes control characters (and invalid UTF-8) as Go escapes: a session name, a
// reason or a log line must never move the cursor or change the terminal.
func safe(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || r == utf8.RuneError }) {
		return s
	}
	var b strings.Builder
	for i, r := range s {
		switch {
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unicode.IsControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clip cuts s to w columns (one a rune: everything drawn went through safe first).
func clip(s string, w int) string {
	if utf8.RuneCountInString(s) <= w {
		return s
	}
	n := 0
	for i := range s {
		if n == w {
			return s[:i]
		}
		n++
	}
	return s
}

// ms writes a latency bound: "≤5ms", "≤2s" (the histogram's resolution, not more).
func ms(v float64) string {
	if v >= 1000 {
		return "≤" + strconv.FormatFloat(v/1000, 'f', -1, 64) + "s"
	}
	return "≤" + strconv.FormatFloat(v, 'f', -1, 64) + "ms"
}

func short(d time.Duration) string {
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return strconv.Itoa(int(d.Hours()/24)) + "d"
}
