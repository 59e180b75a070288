package sessioncall

import "testing"

func TestStatusParen_NoEmptyParentheses(t *testing.T) {
	for _, tc := range []struct{ status, detail, want string }{
		{"", "", ""},
		{"crashed", "", " (status crashed)"},
		{"", "exit 1", " (exit 1)"},
		{"crashed", "exit 1", " (status crashed: exit 1)"},
	} {
		if got := statusParen(tc.status, tc.detail); got != tc.want {
			t.Errorf("statusParen(%q, %q) = %q, want %q", tc.status, tc.detail, got, tc.want)
		}
	}
}
