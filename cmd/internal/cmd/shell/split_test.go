package shell

import (
	"errors"
	"slices"
	"testing"
)

func TestSplit_AsAShellWould(t *testing.T) {
	for _, tc := range []struct {
		line string
		want []string
	}{
		{"", nil},
		{"   \t ", nil},
		{"tools-list", []string{"tools-list"}},
		{"  tools-call  echo   text:=hi  ", []string{"tools-call", "echo", "text:=hi"}},
		{`tools-call echo text:="two words"`, []string{"tools-call", "echo", "text:=two words"}},
		{`tools-call echo 'text:=it'\''s'`, []string{"tools-call", "echo", "text:=it's"}},
		{`a "q\"uote\\d \$x \n"`, []string{"a", `q"uote\d $x \n`}},
		{`a 'no \escapes "here"'`, []string{"a", `no \escapes "here"`}},
		{`a\ b c\"d`, []string{"a b", `c"d`}},
		{`a "" ''`, []string{"a", "", ""}},
		{`echo '{"k": [1, 2]}'`, []string{"echo", `{"k": [1, 2]}`}},
		{"a # a comment 'with an open quote", []string{"a"}},
		{"a#b", []string{"a#b"}},
		{"héllo wörld", []string{"héllo", "wörld"}},
	} {
		got, err := Split(tc.line)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.line, got, err, tc.want)
		}
	}
}

func TestSplit_UnbalancedIsAnError(t *testing.T) {
	for _, line := range []string{`a 'open`, `a "open`, `a "x\"`, `a \`, `'`, `a "it's`} {
		if got, err := Split(line); !errors.Is(err, ErrUnbalanced) || got != nil {
			t.Errorf("Split(%q) = %q, %v; want ErrUnbalanced and no words", line, got, err)
		}
	}
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{`a 'b' "c\"d" e\ f # g`, `'`, `"\`, `\`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		words, err := Split(line)
		if err != nil && words != nil {
			t.Errorf("Split(%q) returned words with an error", line)
		}
	})
}
