package session

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// The timeline's geometry, in SVG user units.
const (
	svgWidth     = 960
	svgLabelW    = 230 // the generation names on the left
	svgRowH      = 26
	svgTopH      = 52 // title and time axis
	svgBottomH   = 34 // legend
	svgRightPad  = 20
	svgMinBarLen = 2 // a phase shorter than a unit is still drawn
)

// writeTimeline draws gens — the records history prints, computed by generations() — as
// an SVG timeline: one row per generation with its requested → spawned → ready → exited
// phases, a mark where it crashed, and a <title> on each row saying who asked and how it
// ended (what a browser shows on hover). now ends the bar of a generation still running.
func writeTimeline(w io.Writer, name string, s projector.Session, gens []generationRecord, now time.Time) error {
	var b bytes.Buffer
	start, end := timelineSpan(gens)
	span := end.Sub(start)
	if span <= 0 {
		span = time.Millisecond
	}
	plotW := float64(svgWidth - svgLabelW - svgRightPad)
	x := func(t time.Time) float64 {
		if t.Before(start) {
			t = start
		}
		if t.After(end) {
			t = end
		}
		return svgLabelW + plotW*float64(t.Sub(start))/float64(span)
	}
	height := svgTopH + svgRowH*len(gens) + svgBottomH

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="monospace" font-size="12">`+"\n",
		svgWidth, height, svgWidth, height)
	fmt.Fprintf(&b, "<title>%s</title>\n", xmlText("@"+name+" history"))
	b.WriteString(`<rect width="100%" height="100%" fill="#ffffff"/>` + "\n")
	fmt.Fprintf(&b, `<text x="8" y="18" font-size="14" font-weight="bold">%s</text>`+"\n",
		xmlText(fmt.Sprintf("@%s: %s, generation %d, %d restart(s), %d crash(es)", name, s.Status, s.Generation, s.Restarts, s.Crashes)))

	// The time axis: the span's start and end, and its length.
	axisY := svgTopH - 8
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#888"/>`+"\n", svgLabelW, axisY, svgWidth-svgRightPad, axisY)
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">%s</text>`+"\n", svgLabelW, axisY-4, xmlText(start.Local().Format("2006-01-02 15:04:05.000")))
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555" text-anchor="end">%s</text>`+"\n", svgWidth-svgRightPad, axisY-4,
		xmlText("+"+roundDur(end.Sub(start))+" →"))

	for i, r := range gens {
		y := svgTopH + i*svgRowH
		fmt.Fprintf(&b, `<g class="generation" id="generation-%d" data-trigger="%s" data-crashed="%t">`+"\n", r.Generation, xmlText(r.Trigger), crashed(r))
		fmt.Fprintf(&b, "<title>%s</title>\n", xmlText(rowTitle(r)))
		if i%2 == 1 {
			fmt.Fprintf(&b, `<rect x="0" y="%d" width="%d" height="%d" fill="#f4f4f4"/>`+"\n", y, svgWidth, svgRowH)
		}
		fmt.Fprintf(&b, `<text x="8" y="%d">%s</text>`+"\n", y+12, xmlText(fmt.Sprintf("generation %d%s", r.Generation, clierr.Paren(r.Trigger))))
		fmt.Fprintf(&b, `<text class="asker" x="8" y="%d" font-size="9" fill="#555">%s</text>`+"\n", y+23, xmlText(clipRunes("by "+askerText(r.RequestedBy), 40)))

		// The phases: waiting for a bridge, starting, ready; each until the next one began
		// or the generation ended.
		stop := generationStop(r, now)
		phase := func(from, to time.Time, fill, what string) {
			if from.IsZero() {
				return
			}
			if to.IsZero() || to.Before(from) {
				to = from
			}
			x0, x1 := x(from), x(to)
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n",
				what, x0, y+6, max(x1-x0, svgMinBarLen), svgRowH-12, fill)
		}
		phase(r.RequestedAt, firstSet(r.SpawnedAt, r.ReadyAt, stop), "#c9c9c9", "requested")
		phase(r.SpawnedAt, firstSet(r.ReadyAt, stop), "#f0b429", "starting")
		phase(r.ReadyAt, stop, "#3f9c35", "ready")
		if crashed(r) {
			at := firstSet(r.ExitedAt, r.EndedAt, stop)
			cx, cy := x(at), y+svgRowH/2
			fmt.Fprintf(&b, `<path class="crash" d="M%.1f %d l8 8 M%.1f %d l-8 8" stroke="#d0021b" stroke-width="2.5"/>`+"\n",
				cx-4, cy-4, cx+4, cy-4)
		} else if r.Current && r.EndedBy == "" && r.ExitedAt.IsZero() && !r.ReadyAt.IsZero() {
			ax, cy := float64(svgWidth-svgRightPad), y+svgRowH/2
			fmt.Fprintf(&b, `<path class="running" d="M%.1f %d l8 %d l-8 %d z" fill="#3f9c35"/>`+"\n", ax, cy-7, 7, 7)
		} else if !r.ExitedAt.IsZero() {
			fmt.Fprintf(&b, `<line class="exited" x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#333" stroke-width="2"/>`+"\n",
				x(r.ExitedAt), y+4, x(r.ExitedAt), y+svgRowH-4)
		}
		b.WriteString("</g>\n")
	}

	ly := svgTopH + svgRowH*len(gens) + 20
	for i, l := range []struct{ fill, text string }{
		{"#c9c9c9", "requested"}, {"#f0b429", "starting"}, {"#3f9c35", "ready"}, {"#d0021b", "crashed"}, {"#333", "exited"},
	} {
		lx := 8 + i*120
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n", lx, ly-10, l.fill, lx+16, ly, l.text)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// writeTimelineHTML is a page to attach to a bug report: the timeline, and under it the
// text history prints, both from the same records.
func writeTimelineHTML(w io.Writer, name string, s projector.Session, gens []generationRecord, now time.Time) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"/><title>%s</title></head>\n<body>\n",
		xmlText("@"+name+" history"))
	if err := writeTimeline(&b, name, s, gens, now); err != nil {
		return err
	}
	var text bytes.Buffer
	printHistory(&text, name, s, gens)
	fmt.Fprintf(&b, "<pre>%s</pre>\n</body>\n</html>\n", xmlText(text.String()))
	_, err := w.Write(b.Bytes())
	return err
}

// crashed says the generation ended in a way nobody asked for: a problem was reported,
// or its bridge exited with an error or was killed without saying it was stopping.
func crashed(r generationRecord) bool {
	return len(r.Problems) > 0 || (r.ExitCode != nil && *r.ExitCode != 0) || (r.Signal != "" && r.Stopping == "")
}

// generationStop is when the generation's bridge stopped counting: its exit, else what
// ended it, else now for the one still running.
func generationStop(r generationRecord, now time.Time) time.Time {
	if t := firstSet(r.ExitedAt, r.EndedAt); !t.IsZero() {
		return t
	}
	if r.Current {
		return now
	}
	return time.Time{}
}

// timelineSpan is from the first request to the last recorded event plus a tenth, where
// the bar of a generation still running ends in an arrow. It does not reach to now: an hour
// of quiet after a restart storm would squeeze the storm into a pixel.
func timelineSpan(gens []generationRecord) (start, end time.Time) {
	for _, r := range gens {
		for _, t := range []time.Time{r.RequestedAt, r.SpawnedAt, r.ReadyAt, r.ExitedAt, r.EndedAt} {
			if t.IsZero() {
				continue
			}
			if start.IsZero() || t.Before(start) {
				start = t
			}
			if t.After(end) {
				end = t
			}
		}
	}
	return start, end.Add(max(end.Sub(start)/10, time.Millisecond))
}

func firstSet(ts ...time.Time) time.Time {
	for _, t := range ts {
		if !t.IsZero() {
			return t
		}
	}
	return time.Time{}
}

// rowTitle is what history prints about one generation, on a few lines.
func rowTitle(r generationRecord) string {
	lines := []string{
		fmt.Sprintf("generation %d, %s, seq %d, requested %s", r.Generation, r.Trigger, r.RequestSeq, r.RequestedAt.Local().Format("15:04:05.000")),
		"requested by " + actorText(r.RequestedBy),
	}
	if r.Reason != "" {
		lines = append(lines, "reason: "+r.Reason)
	}
	if r.PID != 0 {
		l := "bridge pid " + strconv.Itoa(r.PID)
		if !r.ReadyAt.IsZero() {
			l += ", ready after " + roundDur(r.TimeToReady)
		}
		lines = append(lines, l)
	}
	lines = append(lines, "ended: "+endText(r))
	return strings.Join(lines, "\n")
}

// askerText is who asked for a generation, short enough for the label column: the
// command and its pid (actorText has it all, in the row's title).
func askerText(a events.Actor) string {
	switch {
	case a.Command != "" && a.PID != 0:
		return strconv.Quote(a.Command) + " pid " + strconv.Itoa(a.PID)
	case a.Command != "":
		return strconv.Quote(a.Command)
	case a.PID != 0:
		return "pid " + strconv.Itoa(a.PID)
	}
	return "unknown"
}

func clipRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// xmlText escapes s for XML text and attributes. Control characters (which XML 1.0 does
// not allow, even escaped, and which a terminal would obey) are written as Go escapes.
func xmlText(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '&':
			b.WriteString("&amp;")
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '"':
			b.WriteString("&#34;")
		case r == '\'':
			b.WriteString("&#39;")
		case r == utf8.RuneError || (unicode.IsControl(r) && r != '\n' && r != '\t'):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// writeFileAtomic writes path as a whole or not at all: a temp file beside it, renamed.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
