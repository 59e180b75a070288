package cmdkit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"

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
	// ErrTerminal says stderr is a terminal whatever NO_COLOR says (which only turns
	// colour off): progress shows then.
	ErrTerminal bool
	// CanPrompt says a person can be asked: stdin and stderr are terminals (whatever
	// NO_COLOR says, which only turns colour off).
	CanPrompt bool
}

// System returns the process's standard streams.
func System() *IOStreams {
	return &IOStreams{
		In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr,
		OutTTY: isTerminal(os.Stdout), ErrTTY: isTerminal(os.Stderr), InTTY: isTerminal(os.Stdin),
		CanPrompt: isTTY(os.Stdin) && isTTY(os.Stderr), ErrTerminal: isTTY(os.Stderr),
	}
}

func isTerminal(f *os.File) bool {
	if os.Getenv("NO_COLOR") != "" && f != os.Stdin {
		return false
	}
	return isTTY(f)
}

func isTTY(f *os.File) bool {
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

// outputWriter records the first error of the writer it wraps. Commands write with
// fmt.Fprintf and friends and ignore what they return; Run checks Err once, at the end, so a
// command whose output could not be written (a full disk, /dev/full, a hung-up terminal)
// never exits 0. (A closed pipe on fd 1 ends a Go program with SIGPIPE before that.)
type OutputWriter struct {
	W io.Writer

	mu  sync.Mutex
	err error
}

func (o *OutputWriter) Write(p []byte) (int, error) {
	n, err := o.W.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		o.mu.Lock()
		if o.err == nil {
			o.err = err
		}
		o.mu.Unlock()
	}
	return n, err
}

// Err returns the first write error, if any.
func (o *OutputWriter) Err() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

// errOutput is the exit error of a command whose standard output could not be written.
var errOutput = errors.New("cannot write the output")

// outputErr wraps a write error of standard output for the exit path.
func outputErr(err error) error {
	return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%w: %w", errOutput, err)}
}

// Test returns streams on buffers, for tests: stdin reads in, stdout and stderr are kept.
func Test(in string) (io *IOStreams, out, errOut *bytes.Buffer) {
	out, errOut = &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: strings.NewReader(in), Out: out, ErrOut: errOut}, out, errOut
}

// OutFile is the file under the writers Run puts on stdout (the error recorder,
// --max-chars), or nil when stdout is no file: for a command that draws on the terminal
// itself (top), where neither applies.
func OutFile(ios *IOStreams) *os.File {
	w := ios.Out
	for {
		switch v := w.(type) {
		case *os.File:
			return v
		case *OutputWriter:
			w = v.W
		case *charLimitWriter:
			w = v.W
		default:
			return nil
		}
	}
}
