package grep

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

// CompilePattern compiles a grep pattern (Go regexp syntax) with smart case: it matches
// regardless of case unless the pattern has an upper-case letter of its own (a literal,
// not an escape such as \S or \PL), as ripgrep's --smart-case does.
func CompilePattern(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, clierr.WithHint(fmt.Errorf("grep: the pattern is empty"), clierr.ExitUsage, "mcpctl grep PATTERN   (a Go regexp; '.' matches everything)")
	}
	parsed, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, clierr.WithHint(fmt.Errorf("grep: bad pattern %q: %w", pattern, err), clierr.ExitUsage,
			"PATTERN is a Go regexp (https://pkg.go.dev/regexp/syntax); quote it for the shell")
	}
	if !hasUpperLiteral(parsed) {
		pattern = "(?i)" + pattern
	}
	re, err := regexp.Compile(pattern)
	if err != nil { // parsed above, so only a limit (size, repeat count) gets here
		return nil, clierr.WithHint(fmt.Errorf("grep: bad pattern %q: %w", pattern, err), clierr.ExitUsage, "a simpler pattern")
	}
	return re, nil
}

// hasUpperLiteral reports whether a parsed pattern has an upper-case letter the user wrote
// as a literal (or in a character class they wrote out, like [A-Z]).
func hasUpperLiteral(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if unicode.IsUpper(r) {
				return true
			}
		}
	case syntax.OpCharClass:
		// \S, \W, \D and \pL parse to classes too; only short explicit ranges count.
		for i := 0; i+1 < len(re.Rune); i += 2 {
			lo, hi := re.Rune[i], re.Rune[i+1]
			if hi-lo < 64 && (unicode.IsUpper(lo) || unicode.IsUpper(hi)) {
				return true
			}
		}
	}
	for _, sub := range re.Sub {
		if hasUpperLiteral(sub) {
			return true
		}
	}
	return false
}

// Kinds of items searched, as they appear in output.
const (
	KindTool     = "tool"
	KindResource = "resource"
	KindTemplate = "template"
	KindPrompt   = "prompt"
)

// Item is one tool, resource, resource template or prompt of a session.
type Item struct {
	Session     string `json:"session"`
	Kind        string `json:"kind"`
	Name        string `json:"name"`
	Title       string `json:"title,omitempty"`
	Description string `json:"description,omitempty"`
	// URI is a resource's uri or a template's uriTemplate: shown, and searched too.
	URI string `json:"uri,omitempty"`
	// Matched names the fields the pattern matched: name, title, description, uri.
	Matched []string `json:"matched"`
}

// Match fills it.Matched and reports whether re matches any searched field.
func (it *Item) Match(re *regexp.Regexp) bool {
	it.Matched = nil
	for _, f := range []struct{ name, value string }{
		{"name", it.Name}, {"title", it.Title}, {"description", it.Description}, {"uri", it.URI},
	} {
		if f.value != "" && re.MatchString(f.value) {
			it.Matched = append(it.Matched, f.name)
		}
	}
	return len(it.Matched) > 0
}

// printable makes a server's text safe for one line of a terminal: control characters
// (escape sequences, carriage returns, bells) are shown escaped, never sent raw.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, "\\x%02x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// firstLine is the first line of s, trimmed and cut to n runes.
func firstLine(s string, n int) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}
