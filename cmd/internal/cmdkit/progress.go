package cmdkit

import (
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/sys/unix"
)

// ProgressNote is one step of a long wait: what an MCP notifications/progress carries
// (progress, an optional total, an optional message), or a status line of our own.
type ProgressNote struct {
	Progress float64  `json:"progress"`
	Total    *float64 `json:"total,omitempty"`
	Message  string   `json:"message,omitempty"`
}

// Progress shows how a long wait goes, on stderr and on a terminal only: piped output and
// scripts never see it, and stdout never does. A note with a total draws a bar; one
// without, a spinner with the count and the message. It is safe for concurrent use; Done
// clears the line, and a Progress is not used after it.
//
// The drawing is github.com/schollz/progressbar: width, throttling and clearing are its
// business, not escape codes of ours.
type Progress struct {
	w     io.Writer
	on    bool
	width int // of the terminal: a line that wraps cannot be redrawn in place
	start time.Time
	// delay hides Update's own status lines for waits shorter than it (a server's progress
	// shows at once: the server chose to report it).
	delay time.Duration

	mu    sync.Mutex
	bar   *progressbar.ProgressBar
	total float64 // the bar's total; 0: the spinner
	done  bool
	// held counts the Holds in force: while a question is on the terminal the line is
	// cleared and notes wait in pending (the last one only) instead of drawing over it.
	held    int
	pending *ProgressNote
}

const progressDelay = 300 * time.Millisecond

// defaultWidth is the terminal's width when it cannot be asked; barRoom and spinnerRoom
// are what a line needs besides the message (bar, percentage, count, time).
const (
	defaultWidth = 80
	barRoom      = 62
	spinnerRoom  = 24
)

// progressScale is the resolution of a bar: MCP progress values are numbers, not counts.
const progressScale = 1000

// NewProgress starts a wait that shows msg (after progressDelay) until the first Report or
// Update.
func NewProgress(ios *IOStreams, msg string) *Progress {
	p := &Progress{w: ios.ErrOut, on: ios.ErrTTY || ios.ErrTerminal, width: defaultWidth, start: time.Now(), delay: progressDelay}
	if f, ok := ios.ErrOut.(*os.File); ok && p.on {
		if ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ); err == nil && ws.Col > 0 {
			p.width = int(ws.Col)
		}
	}
	if msg != "" {
		p.Update(msg)
	}
	return p
}

// Update shows a status line of our own (a spinner, the message and the time waited),
// once the wait has lasted progressDelay.
func (p *Progress) Update(msg string) {
	if !p.on || time.Since(p.start) < p.delay {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done || p.held > 0 {
		return
	}
	p.draw(0, p.safe(msg, spinnerRoom))
}

// Report shows a progress notification: a bar when it has a total, else a spinner with
// the progress count. It is a progress sink: pass p.Report where one is wanted.
func (p *Progress) Report(n ProgressNote) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done {
		return
	}
	if p.held > 0 {
		p.pending = &n
		return
	}
	p.report(n)
}

func (p *Progress) report(n ProgressNote) {
	total := 0.0
	if n.Total != nil && *n.Total > 0 && !math.IsInf(*n.Total, 0) {
		total = *n.Total
	}
	if total == 0 {
		p.draw(0, joinNonEmpty(p.safe(n.Message, spinnerRoom), formatNumber(n.Progress)))
		return
	}
	p.draw(total, joinNonEmpty(p.safe(n.Message, barRoom), formatNumber(n.Progress)+"/"+formatNumber(total)))
	done := math.Max(0, math.Min(n.Progress/total, 1))
	_ = p.bar.Set64(int64(math.Round(done * progressScale)))
}

// draw shows desc on the bar for this total (0: a spinner, which turns on each draw). A
// change of total, or a note after the bar was full, starts a new bar.
func (p *Progress) draw(total float64, desc string) {
	if p.bar != nil && (p.total != total || p.bar.IsFinished()) {
		_ = p.bar.Clear()
		p.bar = nil
	}
	if p.bar == nil {
		max := int64(-1)
		if total > 0 {
			max = progressScale
		}
		p.total = total
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(p.w),
			progressbar.OptionSetDescription(desc),
			progressbar.OptionSetWidth(30),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionSpinnerType(14),
			// No spinner goroutine of its own: the spinner turns on each note.
			progressbar.OptionSetSpinnerChangeInterval(0),
			progressbar.OptionUseANSICodes(true),
		)
		_ = p.bar.RenderBlank()
		return
	}
	p.bar.Describe(desc)
}

// Hold clears the line and keeps it clear until release is called: for a question asked
// on the same terminal while the wait goes on (a server's elicitation during a tool call).
// The last note that arrived meanwhile is drawn on release.
func (p *Progress) Hold() (release func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.held++
	if p.bar != nil {
		_ = p.bar.Clear()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			p.held--
			if p.held == 0 && p.pending != nil && !p.done && p.on {
				p.report(*p.pending)
			}
			p.pending = nil
		})
	}
}

// Done clears the line; later Reports and Updates show nothing.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	if p.bar != nil {
		_ = p.bar.Clear()
		_ = p.bar.Exit()
	}
}

// safe fits a message in what the line leaves it besides room.
func (p *Progress) safe(msg string, room int) string {
	return lineSafe(msg, max(p.width-room, 12))
}

// lineSafe makes a server's text fit one line of a terminal: control characters (an
// escape sequence could retitle the window or move the cursor) and invalid UTF-8 are
// shown quoted, and the text is cut to limit runes.
func lineSafe(s string, limit int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n >= limit {
			b.WriteString("…")
			break
		}
		if r == utf8.RuneError || unicode.IsControl(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
		n++
	}
	return b.String()
}

func formatNumber(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

func joinNonEmpty(a, b string) string {
	if a == "" {
		return b
	}
	return a + " " + b
}
