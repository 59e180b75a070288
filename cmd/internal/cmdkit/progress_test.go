package cmdkit

import (
	"bytes"
	"strings"
	"testing"
)

func total(f float64) *float64 { return &f }

func TestProgress_ReportsOnATerminalOnly(t *testing.T) {
	t.Run("a bar with the server's message and count when the note has a total", func(t *testing.T) {
		var errOut bytes.Buffer
		p := NewProgress(&IOStreams{ErrOut: &errOut, ErrTerminal: true}, "")
		for i := 1; i <= 4; i++ {
			p.Report(ProgressNote{Progress: float64(i), Total: total(4), Message: "step"})
		}
		p.Done()
		got := errOut.String()
		for _, want := range []string{"step 1/4", "step 4/4", "100%", "|"} {
			if !strings.Contains(got, want) {
				t.Errorf("stderr does not show %q:\n%q", want, got)
			}
		}
		if !strings.HasSuffix(got, "\x1b[2K\r") {
			t.Errorf("Done did not clear the line: %q", got)
		}
	})

	t.Run("a spinner with the count when the note has no total", func(t *testing.T) {
		var errOut bytes.Buffer
		p := NewProgress(&IOStreams{ErrOut: &errOut, ErrTTY: true}, "")
		p.Report(ProgressNote{Progress: 7, Message: "indexing"})
		p.Report(ProgressNote{Progress: 2.5})
		p.Done()
		got := errOut.String()
		for _, want := range []string{"indexing 7", " 2.5 "} {
			if !strings.Contains(got, want) {
				t.Errorf("stderr does not show %q:\n%q", want, got)
			}
		}
		if strings.Contains(got, "%") {
			t.Errorf("a note without a total drew a bar: %q", got)
		}
	})

	t.Run("nothing when stderr is not a terminal", func(t *testing.T) {
		var errOut bytes.Buffer
		p := NewProgress(&IOStreams{ErrOut: &errOut}, "waiting")
		p.Report(ProgressNote{Progress: 1, Total: total(2), Message: "half"})
		p.Update("still waiting")
		p.Done()
		if errOut.Len() != 0 {
			t.Errorf("piped stderr got %q", errOut.String())
		}
	})

	t.Run("nothing after Done", func(t *testing.T) {
		var errOut bytes.Buffer
		p := NewProgress(&IOStreams{ErrOut: &errOut, ErrTerminal: true}, "")
		p.Report(ProgressNote{Progress: 1, Total: total(2), Message: "half"})
		p.Done()
		n := errOut.Len()
		p.Report(ProgressNote{Progress: 2, Total: total(2), Message: "late"})
		if strings.Contains(errOut.String()[n:], "late") {
			t.Errorf("a note after Done was drawn: %q", errOut.String()[n:])
		}
	})

	t.Run("a status line of our own waits for the delay", func(t *testing.T) {
		var errOut bytes.Buffer
		p := NewProgress(&IOStreams{ErrOut: &errOut, ErrTerminal: true}, "waiting for @s")
		if errOut.Len() != 0 {
			t.Errorf("a wait shorter than the delay was shown: %q", errOut.String())
		}
		p.delay = 0
		p.Update("waiting for @s (starting)")
		p.Done()
		if !strings.Contains(errOut.String(), "waiting for @s (starting)") {
			t.Errorf("the status line after the delay is missing: %q", errOut.String())
		}
	})
}

func TestProgress_HoldKeepsTheLineClearForAQuestion(t *testing.T) {
	var errOut bytes.Buffer
	p := NewProgress(&IOStreams{ErrOut: &errOut, ErrTerminal: true}, "")
	p.Report(ProgressNote{Progress: 1, Total: total(4), Message: "before"})
	release := p.Hold()
	held := errOut.Len()
	p.Report(ProgressNote{Progress: 2, Total: total(4), Message: "during a"})
	p.Report(ProgressNote{Progress: 3, Total: total(4), Message: "during b"})
	p.Update("our own line")
	if got := errOut.String()[held:]; got != "" {
		t.Errorf("drawn while held: %q", got)
	}
	if !strings.HasSuffix(errOut.String(), "\x1b[2K\r") {
		t.Errorf("Hold did not clear the line: %q", errOut.String())
	}
	release()
	release() // a second release changes nothing
	after := errOut.String()[held:]
	if !strings.Contains(after, "during b 3/4") || strings.Contains(after, "during a") {
		t.Errorf("after release, want the last note only: %q", after)
	}
	p.Done()
}

func TestProgress_AServersMessageStaysOnOneLineAndCannotDriveTheTerminal(t *testing.T) {
	var errOut bytes.Buffer
	p := NewProgress(&IOStreams{ErrOut: &errOut, ErrTerminal: true}, "")
	p.Report(ProgressNote{Progress: 1, Total: total(2), Message: "a\x1b]0;owned\x07b\nc\xff" + strings.Repeat("x", 200)})
	p.Done()
	got := errOut.String()
	for _, bad := range []string{"\x1b]0;", "\x07", "\n", "\xff"} {
		if strings.Contains(got, bad) {
			t.Errorf("stderr carries %q raw: %q", bad, got)
		}
	}
	if !strings.Contains(got, `a\x1b]0;owned\ab\nc`+"\ufffd") || !strings.Contains(got, "… 1/2") {
		t.Errorf("the message is not shown quoted and cut: %q", got)
	}
	if strings.Contains(got, strings.Repeat("x", 40)) {
		t.Errorf("a long message was not cut to the terminal's width: %q", got)
	}
}
