package cmdkit

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

func TestCharLimitWriter_CutsAtRunesAndSaysSo(t *testing.T) {
	const notice = "… output cut at 5 characters (--max-chars 5)"
	for _, tc := range []struct {
		name   string
		pieces []string
		limit  int
		want   string // before the notice; "" with cut=false: all of it
		cut    bool
	}{
		{"under the limit", []string{"abc\n"}, 5, "abc\n", false},
		{"exactly the limit", []string{"abcde"}, 5, "abcde", false},
		{"over, in one write", []string{"abcdefgh\n"}, 5, "abcde\n", true},
		{"over, across writes", []string{"ab", "cd", "efgh"}, 5, "abcde\n", true},
		{"ends on a newline: no extra one", []string{"abcd\nfg"}, 5, "abcd\n", true},
		{"runes, not bytes", []string{"ééééééé"}, 5, "ééééé\n", true},
		{"a rune split across writes", []string{"éé\xc3", "\xa9éé", "é"}, 5, "ééééé\n", true},
		{"no limit", []string{"abcdefgh"}, 0, "abcdefgh", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			w := &charLimitWriter{W: &out, Limit: func() int { return tc.limit }}
			total := 0
			for _, p := range tc.pieces {
				n, err := w.Write([]byte(p))
				if err != nil || n != len(p) {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil (the command goes on)", p, n, err, len(p))
				}
				total += n
			}
			got := out.String()
			if !tc.cut {
				if got != tc.want {
					t.Errorf("got %q, want %q", got, tc.want)
				}
				return
			}
			before, after, ok := strings.Cut(got, "… output cut")
			if !ok || before != tc.want || !strings.HasPrefix("… output cut"+after, notice) || strings.Count(got, "output cut") != 1 {
				t.Errorf("got %q, want %q then one notice %q", got, tc.want, notice)
			}
			// Later writes are dropped, and no second notice comes.
			w.Write([]byte("more"))
			if out.String() != got {
				t.Errorf("a write after the cut changed the output to %q", out.String())
			}
		})
	}
}

func TestMaxCharsValue_RefusesWhatIsNotACount(t *testing.T) {
	var v maxCharsValue
	for _, bad := range []string{"-1", "x", "1.5"} {
		if err := v.Set(bad); err == nil {
			t.Errorf("--max-chars %s accepted", bad)
		}
	}
}

// A command that draws on the terminal itself finds the file under Run's stdout writers.
func TestOutFile_UnderTheWritersRunAdds(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ios := &IOStreams{Out: &OutputWriter{W: &charLimitWriter{W: f}}}
	if got := OutFile(ios); got != f {
		t.Errorf("OutFile = %v, want the file under the error recorder and --max-chars", got)
	}
	ios.Out = &OutputWriter{W: &bytes.Buffer{}}
	if got := OutFile(ios); got != nil {
		t.Errorf("OutFile of a buffer = %v, want nil", got)
	}
}
