package events

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers branch on these with errors.Is; the CLI maps them to exit codes.
var (
	// ErrConflict: a conditional append lost: another writer appended to the session after
	// the sequence this writer saw. Re-read and join what is already happening.
	ErrConflict = errors.New("conflict: the session changed since it was read")
	// ErrInvalidName: a session or node name outside ^[A-Za-z0-9_-]{1,64}$.
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalidEvent: an event that cannot be stored or decoded.
	ErrInvalidEvent = errors.New("invalid event")
	// ErrNotFound: no such session (or no such event).
	ErrNotFound = errors.New("not found")
	// ErrExists: a session of that name is open with another server.
	ErrExists = errors.New("session exists")
	// ErrClosed: the session is closed.
	ErrClosed = errors.New("session closed")
	// ErrLocked: the store is owned by another process.
	ErrLocked = errors.New("store is locked by another process")
	// ErrNoHub: no hub is running (or its address file is unusable).
	ErrNoHub = errors.New("no hub running")
	// ErrUnsafe: a file or directory has modes that let other users in.
	ErrUnsafe = errors.New("unsafe permissions")
	// ErrGenerationsExhausted: the session is at the largest generation there is (only a
	// forged or corrupted log gets there); no restart or re-create can follow it.
	ErrGenerationsExhausted = errors.New("no generation after the largest")
	// ErrDiskFull: the hub could not store an event or a session's state: its disk is full.
	ErrDiskFull = errors.New("the hub's disk is full")
	// ErrStoreLost: the hub's store was removed or replaced under it.
	ErrStoreLost = errors.New("the hub's store was removed")
	// ErrRefused: the NATS cluster refused this client's credentials or TLS certificate, or
	// the client refused the server's certificate (exit 4, not a network error: retrying
	// does not help).
	ErrRefused = errors.New("refused by the NATS cluster")
	// ErrDenied: the NATS cluster's permissions do not allow a subject this client needs.
	ErrDenied = errors.New("not permitted by the NATS cluster")
)

// SessionError is an error about one session that a caller may need to branch on.
type SessionError struct {
	Op      string // what was being done: "append", "restart", "connect", …
	Node    string
	Session string
	Err     error
}

func (e *SessionError) Error() string {
	if e.Node != "" {
		return fmt.Sprintf("%s @%s (node %s): %v", e.Op, e.Session, e.Node, e.Err)
	}
	return fmt.Sprintf("%s @%s: %v", e.Op, e.Session, e.Err)
}

func (e *SessionError) Unwrap() error { return e.Err }
