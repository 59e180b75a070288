package clierr

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"

	"github.com/mcpctl/mcpctl/events"
)

// Exit codes, one place. DESIGN.md §Command line.
const (
	ExitOK      = 0
	ExitUsage   = 1 // usage or client error: bad flags, names, arguments, config files
	ExitServer  = 2 // the MCP server answered with an error
	ExitNetwork = 3 // network, bridge or hub error; timeouts
	ExitAuth    = 4 // authentication refused
)

// Error is an error with an exit code and an optional hint the user can act on.
type Error struct {
	Code int
	Err  error
	Hint string // "Try: …"
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func UsageErr(format string, a ...any) error {
	return &Error{Code: ExitUsage, Err: fmt.Errorf(format, a...)}
}

func WithHint(err error, code int, hint string) error {
	return &Error{Code: code, Err: err, Hint: hint}
}

// exitCode maps an error to the process exit code. Typed errors first, then sentinels.
func ExitCode(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	switch {
	case err == nil:
		return ExitOK
	case errors.Is(err, events.ErrRefused), errors.Is(err, events.ErrDenied):
		return ExitAuth
	case errors.Is(err, events.ErrInvalidName), errors.Is(err, events.ErrInvalidEvent),
		errors.Is(err, events.ErrExists), errors.Is(err, events.ErrNotFound),
		errors.Is(err, events.ErrClosed), errors.Is(err, events.ErrUnsafe):
		return ExitUsage
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, events.ErrLocked),
		errors.Is(err, events.ErrNoHub):
		return ExitNetwork
	}
	return ExitNetwork
}

func HintOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Hint != "" {
		return e.Hint
	}
	if errors.Is(err, events.ErrDiskFull) || errors.Is(err, syscall.ENOSPC) {
		return "free space on the home's filesystem (df -h $MCPCTL_HOME): the hub resumes by itself, then run the command again"
	}
	if errors.Is(err, events.ErrStoreLost) {
		return "run the command again: the next hub starts on a fresh store and stops the bridges it does not know (mcpctl doctor)"
	}
	var ne *events.NameError
	if errors.As(err, &ne) {
		return "names match ^[A-Za-z0-9_-]{1,64}$, e.g. @docs or @my_server-2"
	}
	return ""
}

// PrintError writes err for a person (prefixed with the program, prog), or as one JSON
// object when jsonOut is set.
func PrintError(w io.Writer, prog string, err error, jsonOut bool) {
	code := ExitCode(err)
	hint := HintOf(err)
	if jsonOut {
		doc := map[string]any{"error": err.Error(), "code": code}
		if hint != "" {
			doc["hint"] = hint
		}
		b, _ := json.Marshal(doc)
		fmt.Fprintf(w, "%s\n", b)
		return
	}
	fmt.Fprintf(w, "%s: %v\n", prog, err)
	if hint != "" {
		fmt.Fprintf(w, "Try: %s\n", hint)
	}
}

// Paren is " (detail)" for a detail that says something, and "" for an empty one: a
// message never ends in "()" (or "( )") because the detail it quotes was empty.
func Paren(detail string) string {
	if strings.TrimSpace(detail) == "" {
		return ""
	}
	return " (" + detail + ")"
}
