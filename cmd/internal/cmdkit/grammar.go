package cmdkit

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// DefaultCallTimeout bounds one MCP request on a bridge when --timeout is not given:
// generous, for slow tools; a longer call says so with --timeout.
const DefaultCallTimeout = 5 * time.Minute

// AddGlobalFlags defines the flags every mcpctl command takes.
func AddGlobalFlags(pf *pflag.FlagSet, f *Factory) {
	pf.BoolVar(&f.JSON, "json", false, "print one JSON document on stdout (errors as JSON on stderr)")
	pf.BoolVarP(&f.Verbose, "verbose", "v", false, "say more on stderr (never changes stdout)")
	pf.Var((*TimeoutValue)(&f.Timeout), "timeout", fmt.Sprintf("give up after this long: seconds (30) or a duration (30s, 5m); more than 0; a timed-out call is cancelled, never re-sent (calls default to %s)", DefaultCallTimeout))
	pf.Var((*maxCharsValue)(&f.MaxChars), "max-chars", "cut human output after this many characters, saying so (not --json; 0: no limit)")
	AddExternalFlags(pf, f)
}

// RewriteSessionArgs turns the session-first grammar (`mcpctl @s tools-list …`) into the
// command-first form cobra parses (`mcpctl tools-list @s …`); `mcpctl @s` alone is `info @s`.
// Global flags may stand before the session, between it and the command, or after both
// (`mcpctl @s --json tools-call …`): takesValue says which of them read the next word.
func RewriteSessionArgs(args []string, takesValue func(flag string) (known, value bool)) []string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return args
		}
		if strings.HasPrefix(a, "-") {
			if _, v := takesValue(a); v {
				i++ // its value is the next word
			}
			continue
		}
		if !strings.HasPrefix(a, "@") {
			return args
		}
		// Global flags between the session and the command move with the session.
		j := i + 1
		for j < len(args) && strings.HasPrefix(args[j], "-") && args[j] != "--" {
			known, v := takesValue(args[j])
			if !known || (v && j+1 >= len(args)) {
				break // not a global flag (or one without its value): cobra says what is wrong
			}
			if v {
				j++
			}
			j++
		}
		out := append([]string{}, args[:i]...)
		if j < len(args) && isHelpWord(args[j]) {
			// `mcpctl @s --help`, `mcpctl @s help`: the commands a session takes.
			out = append(out, "help", a)
			out = append(out, args[i+1:j]...)
			return append(out, args[j+1:]...)
		}
		if j < len(args) && j > i+1 && !strings.HasPrefix(args[j], "-") {
			out = append(out, args[j], a)
			out = append(out, args[i+1:j]...)
			out = append(out, args[j+1:]...)
		} else if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			out = append(out, args[i+1], a)
			out = append(out, args[i+2:]...)
		} else if k := slices.IndexFunc(out, func(w string) bool { return w == "--help" || w == "-h" }); k >= 0 {
			// `mcpctl --help @s`: as `mcpctl @s --help`.
			out = append(append(out[:k:k], "help", a), out[k+1:]...)
			out = append(out, args[i+1:]...)
		} else {
			out = append(out, "info", a)
			out = append(out, args[i+1:]...)
		}
		return out
	}
	return args
}

func isHelpWord(a string) bool { return a == "help" || a == "--help" || a == "-h" }

// HelpForUnknownCommand is args with --help/-h taken out when they ask for the help of a
// command that does not exist (`mcpctl bogus --help`): cobra would print the root's help
// and exit 0; without the flag the root says the command is unknown. isCommand says
// whether a word names a command of the root.
func HelpForUnknownCommand(args []string, takesValue func(string) (known, value bool), isCommand func(string) bool) []string {
	help := false
	first := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if a == "--help" || a == "-h" {
			help = true
			continue
		}
		if strings.HasPrefix(a, "-") {
			if _, v := takesValue(a); v {
				i++
			}
			continue
		}
		if first == "" {
			first = a
		}
	}
	if !help || first == "" || strings.HasPrefix(first, "@") || isCommand(first) {
		return args
	}
	var out []string
	for i, a := range args {
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a != "--help" && a != "-h" {
			out = append(out, a)
		}
	}
	return out
}

// GlobalFlagTakesValue says whether a word is one of the root's persistent flags, and
// whether that flag reads the next word as its value (`--timeout 5s`, not `--timeout=5s`,
// not a boolean like --json).
func GlobalFlagTakesValue(fs *pflag.FlagSet) func(string) (bool, bool) {
	return func(a string) (bool, bool) {
		var fl *pflag.Flag
		switch {
		case strings.HasPrefix(a, "--"):
			name, _, hasValue := strings.Cut(a[2:], "=")
			if fl = fs.Lookup(name); fl == nil {
				return false, false
			}
			return true, !hasValue && fl.NoOptDefVal == ""
		case len(a) == 2:
			if fl = fs.ShorthandLookup(a[1:]); fl == nil {
				return false, false
			}
			return true, fl.NoOptDefVal == ""
		}
		return false, false
	}
}
