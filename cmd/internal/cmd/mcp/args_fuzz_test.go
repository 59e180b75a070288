package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

// FuzzParseToolArgs: whatever the words and stdin, parseToolArgs either returns one JSON
// object or a usage error (exit 1); it never panics, and k:=v words all become keys.
// Words are separated by \x1f in the fuzzed string.
func FuzzParseToolArgs(f *testing.F) {
	for _, s := range []struct {
		words string
		stdin []byte
	}{
		{"query:=nats", nil},
		{"n:=42\x1fflag:=true\x1fxs:=[1,2]\x1fo:={\"a\":{}}", nil},
		{`{"a": 1}`, nil},
		{"-", []byte(`{"text":"hi"}`)},
		{"-", []byte("{\"text\":\"\x00\"}")},
		{"", []byte(`[1]`)},
		{"text=hi", nil},
		{":=x", nil},
		{"a\xff:=1", nil},
		{"k:=\"unterminated", nil},
		{"k:=1e999", nil},
		{"k:=", nil},
		{"a:=1\x1fa:=2", nil},
	} {
		f.Add(s.words, s.stdin)
	}
	f.Fuzz(func(t *testing.T, words string, stdin []byte) {
		var args []string
		if words != "" {
			args = strings.Split(words, "\x1f")
		}
		got, err := parseToolArgs(args, bytes.NewReader(stdin), len(stdin) > 0)
		if err != nil {
			var ce *clierr.Error
			if !errors.As(err, &ce) || ce.Code != clierr.ExitUsage {
				t.Fatalf("parseToolArgs(%q): error %v is not a usage error", args, err)
			}
			if err.Error() == "" {
				t.Fatalf("parseToolArgs(%q): empty error message", args)
			}
			return
		}
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(got, &obj); err != nil || obj == nil {
			t.Fatalf("parseToolArgs(%q) = %q: not a JSON object: %v", args, got, err)
		}
		for _, a := range args {
			if k, _, ok := strings.Cut(a, ":="); ok && len(args) > 0 && !strings.HasPrefix(strings.TrimSpace(args[0]), "{") && args[0] != "-" {
				if _, ok := obj[k]; !ok {
					t.Fatalf("parseToolArgs(%q) = %s: key %q missing", args, got, k)
				}
			}
		}
	})
}
