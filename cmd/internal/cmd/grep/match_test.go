package grep

import (
	"slices"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

func TestCompilePattern_SmartCase(t *testing.T) {
	for _, tc := range []struct {
		pattern, text string
		want          bool
	}{
		{"search", "Search the docs", true},
		{"Search", "search the docs", false},
		{"Search", "Search the docs", true},
		{`\Sarch`, "SEARCH", true},     // \S is no upper-case letter of the user's
		{`\PLarch`, "-ARCH", true},     // nor is \PL
		{`[A-Z]ARCH`, "search", false}, // an explicit class is
		{"(?i)Search", "SEARCH", true},
		{"^page_tool_0[1-3]$", "PAGE_TOOL_02", true},
	} {
		re, err := CompilePattern(tc.pattern)
		if err != nil {
			t.Fatalf("CompilePattern(%q): %v", tc.pattern, err)
		}
		if got := re.MatchString(tc.text); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.text, got, tc.want)
		}
	}
}

func TestCompilePattern_BadPatternsAreUsageErrors(t *testing.T) {
	for pattern, want := range map[string]string{"page_(": "missing closing )", "a**": "invalid nested repetition operator",
		"[z-a]": "invalid character class range", "": "empty", `x{2000}`: "invalid repeat count"} {
		_, err := CompilePattern(pattern)
		if err == nil || clierr.ExitCode(err) != clierr.ExitUsage || !strings.Contains(err.Error(), want) {
			t.Errorf("CompilePattern(%q) = %v (exit %d); want exit 1 saying %q", pattern, err, clierr.ExitCode(err), want)
		}
	}
}

func TestItem_MatchNamesTheFields(t *testing.T) {
	re, _ := CompilePattern("issue")
	it := Item{Name: "list_issues", Title: "Issues", Description: "Lists pull requests", URI: "gh://issue/{n}"}
	if !it.Match(re) || !slices.Equal(it.Matched, []string{"name", "title", "uri"}) {
		t.Errorf("matched %q, want name, title, uri", it.Matched)
	}
	if re, _ := CompilePattern("nothing"); it.Match(re) || it.Matched != nil {
		t.Errorf("a pattern that matches nothing left %q", it.Matched)
	}
}

func TestPrintable_EscapesControlCharacters(t *testing.T) {
	if got := printable("a\x1b]0;title\x07b\rc\u2028d\te"); got != `a\x1b]0;title\x07b\x0dc\x2028d e` {
		t.Errorf("printable = %q", got)
	}
}
