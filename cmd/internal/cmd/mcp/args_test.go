package mcp

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

func TestParseToolArgs(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"string value", []string{"query:=nats"}, `{"query":"nats"}`},
		{"number value", []string{"n:=42"}, `{"n":42}`},
		{"json array", []string{`xs:=[1,2]`}, `{"xs":[1,2]}`},
		{"quoted json string stays a string", []string{`s:="42"`}, `{"s":"42"}`},
		{"value with := inside", []string{`expr:=a:=b`}, `{"expr":"a:=b"}`},
		{"empty value is an empty string", []string{`e:=`}, `{"e":""}`},
		{"order kept, last duplicate wins", []string{"b:=1", "a:=2", "b:=3"}, `{"b":3,"a":2}`},
		{"inline object", []string{`{"a": 1}`}, `{"a": 1}`},
		{"no args", nil, `{}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseToolArgs(tc.args, nil, false)
			if err != nil {
				t.Fatalf("parseToolArgs(%q): %v", tc.args, err)
			}
			if string(got) != tc.want {
				t.Fatalf("parseToolArgs(%q) = %s, want %s", tc.args, got, tc.want)
			}
		})
	}
}

func TestParseToolArgs_Stdin(t *testing.T) {
	got, err := parseToolArgs([]string{"-"}, strings.NewReader(`{"q": "x"}`), false)
	if err != nil || string(got) != `{"q": "x"}` {
		t.Fatalf("stdin object: %s, %v", got, err)
	}
}

func TestParseToolArgs_BadInput(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no separator", []string{"query"}, "expected key:=value"},
		{"single equals hints :=", []string{"query=nats"}, "expected key:=value"},
		{"empty key", []string{":=x"}, "empty key"},
		{"inline not an object", []string{"{nope"}, "inline JSON"},
		{"invalid utf-8", []string{"k:=\xff"}, "UTF-8"},
		{"too big", []string{"k:=" + strings.Repeat("x", maxArgsSize+1)}, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseToolArgs(tc.args, nil, false)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseToolArgs(%.40q) error = %v, want one containing %q", tc.args, err, tc.want)
			}
			var e *clierr.Error
			if !errors.As(err, &e) || e.Code != clierr.ExitUsage {
				t.Fatalf("exit code: got %v, want %d", err, clierr.ExitUsage)
			}
		})
	}
}
