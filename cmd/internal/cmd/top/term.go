package top

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// screen is the terminal top draws on: raw input, the alternate screen, no cursor. Its
// restore undoes all of it, and is safe to call more than once.
type screen struct {
	in, out *os.File
	saved   *unix.Termios
}

// isTerminal says whether f is a terminal (whatever NO_COLOR says).
func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// openScreen puts in into raw mode (no echo, no line editing, no signals from keys:
// Ctrl-C arrives as a key) and switches out to the alternate screen.
func openScreen(in, out *os.File) (*screen, error) {
	t, err := unix.IoctlGetTermios(int(in.Fd()), unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	saved := *t
	raw := *t
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(int(in.Fd()), unix.TCSETS, &raw); err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	s := &screen{in: in, out: out, saved: &saved}
	// Alternate screen, cursor hidden, screen cleared.
	if _, err := out.WriteString("\x1b[?1049h\x1b[?25l\x1b[2J"); err != nil {
		s.restore()
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return s, nil
}

// size is the terminal's width and height (80×24 when it does not say).
func (s *screen) size() (w, h int) {
	ws, err := unix.IoctlGetWinsize(int(s.out.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 || ws.Row == 0 {
		return 80, 24
	}
	return int(ws.Col), int(ws.Row)
}

// draw writes a whole frame in one write: each line from the top left, the rest of each
// line and of the screen cleared.
func (s *screen) draw(lines []string) error {
	buf := []byte("\x1b[H")
	for i, l := range lines {
		if i > 0 {
			buf = append(buf, "\r\n"...)
		}
		buf = append(buf, l...)
		buf = append(buf, "\x1b[K"...)
	}
	buf = append(buf, "\x1b[J"...)
	_, err := s.out.Write(buf)
	return err
}

// restore shows the cursor, leaves the alternate screen and puts the terminal's modes back.
func (s *screen) restore() {
	if s.saved == nil {
		return
	}
	s.out.WriteString("\x1b[0m\x1b[?25h\x1b[?1049l")
	unix.IoctlSetTermios(int(s.in.Fd()), unix.TCSETS, s.saved)
	s.saved = nil
}

// keys reads key presses from in and sends them as names ("q", "up", "ctrl-c", …) until
// the read fails. A terminal that answers no query is fine: top asks it nothing.
func keys(in *os.File, out chan<- string, done <-chan struct{}) {
	buf := make([]byte, 64)
	for {
		n, err := in.Read(buf)
		if err != nil {
			return
		}
		for _, k := range parseKeys(buf[:n]) {
			select {
			case out <- k:
			case <-done:
				return
			}
		}
	}
}

// parseKeys names the keys in one read: arrows (CSI and SS3 forms), Ctrl-C, Esc, and
// single characters. Other escape sequences are dropped.
func parseKeys(b []byte) []string {
	var ks []string
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == 3:
			ks = append(ks, "ctrl-c")
		case c == 0x1b && i+2 < len(b) && (b[i+1] == '[' || b[i+1] == 'O'):
			j := i + 2
			for j < len(b) && (b[j] < 0x40 || b[j] > 0x7e) {
				j++
			}
			if j < len(b) {
				switch b[j] {
				case 'A':
					ks = append(ks, "up")
				case 'B':
					ks = append(ks, "down")
				}
			}
			i = j
		case c == 0x1b:
			ks = append(ks, "esc")
		case c >= 0x20 && c < 0x7f:
			ks = append(ks, string(c))
		}
	}
	return ks
}
