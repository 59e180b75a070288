package cmdkit

import (
	"fmt"
	"io"
	"strconv"
	"sync"
)

// charLimitWriter is --max-chars: it passes on the first Limit() characters (runes, not
// bytes) of what is written, then one line saying the output was cut, and drops the rest
// while reporting every write as done, so the command goes on and exits as it would have.
// A Limit() of 0 passes everything: no --max-chars, or --json (a cut document would not
// parse).
type charLimitWriter struct {
	W     io.Writer
	Limit func() int

	mu        sync.Mutex
	chars     int  // runes passed on
	cut       bool // the limit was reached and the notice written
	dropped   int  // runes dropped after the limit
	lastByte  byte
	wroteSome bool
}

func (c *charLimitWriter) Write(p []byte) (int, error) {
	limit := 0
	if c.Limit != nil {
		limit = c.Limit()
	}
	if limit <= 0 {
		return c.W.Write(p)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cut {
		c.dropped += runeStarts(p)
		return len(p), nil
	}
	// Find where the (limit+1)th rune starts: everything before it goes out, including the
	// continuation bytes of the last rune that fits.
	end := len(p)
	n := c.chars
	for i, b := range p {
		if b&0xC0 == 0x80 {
			continue // inside a rune
		}
		if n == limit {
			end = i
			break
		}
		n++
	}
	c.chars = n
	if end > 0 {
		if _, err := c.W.Write(p[:end]); err != nil {
			return 0, err
		}
		c.lastByte, c.wroteSome = p[end-1], true
	}
	if end == len(p) {
		return len(p), nil
	}
	c.cut = true
	c.dropped += runeStarts(p[end:])
	sep := ""
	if c.wroteSome && c.lastByte != '\n' {
		sep = "\n"
	}
	if _, err := fmt.Fprintf(c.W, "%s… output cut at %d characters (--max-chars %s); without --max-chars (or with --json) it is whole\n", sep, limit, strconv.Itoa(limit)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// runeStarts counts the runes that start in p.
func runeStarts(p []byte) int {
	n := 0
	for _, b := range p {
		if b&0xC0 != 0x80 {
			n++
		}
	}
	return n
}

// maxCharsValue is --max-chars: a count of characters, 0 (the default) for no limit.
type maxCharsValue int

func (v *maxCharsValue) String() string { return strconv.Itoa(int(*v)) }

func (v *maxCharsValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return fmt.Errorf("not a count of characters (e.g. 2000; 0: no limit)")
	}
	*v = maxCharsValue(n)
	return nil
}

func (v *maxCharsValue) Type() string { return "int" }
