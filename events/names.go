package events

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
)

// MaxNameLen bounds session and node names: they become subject tokens and file names.
const MaxNameLen = 64

// Stream and subject names. A session's lifecycle events live under
// mcpctl.ev.<node>.<session>.<kind>; its server notifications under
// mcpctl.notify.<node>.<session>.<method>.
const (
	EventsStream  = "MCPCTL_EVENTS"
	NotifyStream  = "MCPCTL_NOTIFY"
	EventsPrefix  = "mcpctl.ev"
	NotifyPrefix  = "mcpctl.notify"
	SessionBucket = "mcpctl_sessions"
)

func validName(s string) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// ValidateSession checks a session name against ^[A-Za-z0-9_-]{1,64}$. Anything else must
// never reach a subject or a path.
func ValidateSession(name string) error {
	if !validName(name) {
		return &NameError{What: "session", Name: name}
	}
	return nil
}

// ValidateSessionName is ValidateSession for a name a user gives a session: the reserved
// ProfilesSession is refused too.
func ValidateSessionName(name string) error {
	if name == ProfilesSession {
		return fmt.Errorf("%w: session name %q is reserved for the events of OAuth profiles", ErrInvalidName, name)
	}
	return ValidateSession(name)
}

// ValidateNode checks a node name against the same rule as sessions.
func ValidateNode(name string) error {
	if !validName(name) {
		return &NameError{What: "node", Name: name}
	}
	return nil
}

// NameError reports a session or node name that does not match ^[A-Za-z0-9_-]{1,64}$.
type NameError struct {
	What string // "session" or "node"
	Name string
}

func (e *NameError) Error() string {
	why := "only letters, digits, '_' and '-' are allowed"
	switch {
	case e.Name == "":
		why = "it is empty"
	case len(e.Name) > MaxNameLen:
		why = fmt.Sprintf("it is %d characters long, the limit is %d", len(e.Name), MaxNameLen)
	}
	return fmt.Sprintf("invalid %s name %q: %s", e.What, e.Name, why)
}

// Unwrap lets errors.Is(err, ErrInvalidName) match.
func (e *NameError) Unwrap() error { return ErrInvalidName }

// SanitizeNode turns a host name into a valid node name: the first label, with anything
// outside [A-Za-z0-9_-] replaced by '-', cut to MaxNameLen; "node" if nothing is left.
func SanitizeNode(host string) string {
	if i := strings.IndexByte(host, '.'); i > 0 {
		host = host[:i]
	}
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	if len(b) > MaxNameLen {
		b = b[:MaxNameLen]
	}
	if len(b) == 0 {
		return "node"
	}
	return string(b)
}

// Subject returns the subject for one event.
func Subject(node, session string, k Kind) string {
	return EventsPrefix + "." + node + "." + session + "." + string(k)
}

// SessionFilter returns the subject filter that matches every event of one session: the
// filter a conditional append is checked against.
func SessionFilter(node, session string) string {
	return EventsPrefix + "." + node + "." + session + ".>"
}

// Filter returns the subject filter for a node and session, either of which may be empty
// for "any".
func Filter(node, session string) string {
	if node == "" {
		node = "*"
	}
	if session == "" {
		return EventsPrefix + "." + node + ".>"
	}
	return EventsPrefix + "." + node + "." + session + ".>"
}

// NotifySubject returns the subject of a server notification. The method's '/' become '.'
// and anything outside subject-safe characters becomes '_'.
func NotifySubject(node, session, method string) string {
	b := []byte(method)
	for i, c := range b {
		switch {
		case c == '/':
			b[i] = '.'
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	m := strings.Trim(string(b), ".")
	if m == "" {
		m = "_"
	}
	return NotifyPrefix + "." + node + "." + session + "." + m
}

// ParseSubject splits an event subject into node, session and kind.
func ParseSubject(subject string) (node, session string, k Kind, err error) {
	parts := strings.Split(subject, ".")
	if len(parts) != 5 || parts[0]+"."+parts[1] != EventsPrefix {
		return "", "", "", fmt.Errorf("%w: not an event subject: %q", ErrInvalidEvent, subject)
	}
	return parts[2], parts[3], Kind(parts[4]), nil
}

var (
	selfOnce sync.Once
	self     Actor
)

// Self describes this process as an actor. It is computed once: the values cannot change.
func Self() Actor {
	selfOnce.Do(func() {
		self.PID = os.Getpid()
		self.Host, _ = os.Hostname()
		if u, err := user.Current(); err == nil {
			self.User = u.Username
		}
		self.Command = commandLine()
	})
	return self
}

// commandLine is the program name and at most two following words (the session and the
// subcommand), for "who asked". It stops at the first flag or value-like word, so values
// that could hold a secret never enter an event.
func commandLine() string {
	args := os.Args
	if len(args) == 0 {
		return ""
	}
	words := []string{filepath.Base(args[0])}
	for _, a := range args[1:] {
		if strings.HasPrefix(a, "-") || strings.ContainsAny(a, ":=/ ") || len(words) >= 3 {
			break
		}
		words = append(words, a)
	}
	return strings.Join(words, " ")
}
