package clierr

import "testing"

func TestParen_NoEmptyParentheses(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  ", ""},
		{"exit 1", " (exit 1)"},
	} {
		if got := Paren(tc.in); got != tc.want {
			t.Errorf("Paren(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
