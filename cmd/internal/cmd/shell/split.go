package shell

import (
	"errors"
	"fmt"
	"strings"
)

// ErrUnbalanced is a line whose quotes are not closed, or that ends in a lone backslash.
var ErrUnbalanced = errors.New("unbalanced quotes")

// Split splits a line into words as a POSIX shell does, without expansions: blanks
// separate words; '…' keeps everything literally; "…" keeps everything but lets \ escape
// " \ $ ` and a newline; outside quotes \ escapes any character; a word starting with #
// begins a comment. An open quote or a trailing backslash is an error wrapping
// ErrUnbalanced.
func Split(line string) ([]string, error) {
	words, open, _ := split(line)
	if open != 0 {
		if open == '\\' {
			return nil, fmt.Errorf("%w: the line ends in a backslash", ErrUnbalanced)
		}
		return nil, fmt.Errorf("%w: a %c is not closed", ErrUnbalanced, open)
	}
	return words, nil
}

// split does the work of Split. It returns the words so far, the quote still open at the
// end (' or ", \ for a trailing backslash, 0 for none), and whether the line ends inside a
// word (no blank after the last one): completion completes that last word.
func split(line string) (words []string, open rune, inWord bool) {
	var (
		cur     strings.Builder
		started bool
	)
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case open == '\'':
			if r == '\'' {
				open = 0
			} else {
				cur.WriteRune(r)
			}
		case open == '"':
			switch {
			case r == '"':
				open = 0
			case r == '\\' && i+1 < len(rs) && strings.ContainsRune("\"\\$`\n", rs[i+1]):
				i++
				if rs[i] != '\n' {
					cur.WriteRune(rs[i])
				}
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			if i+1 == len(rs) {
				return words, '\\', true
			}
			i++
			started = true
			if rs[i] != '\n' {
				cur.WriteRune(rs[i])
			}
		case r == '\'' || r == '"':
			open, started = r, true
		case r == ' ' || r == '\t' || r == '\n' || r == '\r':
			if started {
				words = append(words, cur.String())
				cur.Reset()
				started = false
			}
		case r == '#' && !started:
			return words, 0, false
		default:
			cur.WriteRune(r)
			started = true
		}
	}
	if started {
		words = append(words, cur.String())
	}
	return words, open, started
}
