package cli

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// IOStreams is where a command reads and writes. Tests give it buffers.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	// OutTTY and ErrTTY say whether Out/ErrOut are terminals: colour, alignment padding
	// and progress only then.
	OutTTY bool
	ErrTTY bool
	InTTY  bool
}

// System returns the process's standard streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: isTerminal(os.Stdout), ErrTTY: isTerminal(os.Stderr), InTTY: isTerminal(os.Stdin),
	}
}

func isTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" && f != os.Stdin {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// Color wraps s in an ANSI colour when on a terminal.
func (s *IOStreams) Color(code, text string) string {
	if !s.OutTTY {
		return text
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}
