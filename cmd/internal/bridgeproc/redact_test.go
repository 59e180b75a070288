package bridgeproc

import (
	"bytes"
	"testing"
)

func TestRedactor_HidesSecretValuesLongestFirst(t *testing.T) {
	var out bytes.Buffer
	r := &redactor{w: &out}
	r.add("x", "REDACTED") // too short to redact without wrecking the log
	r.add("tok3n", "REDACTED")
	r.add("http://h/mcp?api_key=tok3n", "http://h/mcp?api_key=REDACTED")
	got := r.redact(`Post "http://h/mcp?api_key=tok3n": refused; header tok3n; x`)
	want := `Post "http://h/mcp?api_key=REDACTED": refused; header REDACTED; x`
	if got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
	if _, err := r.Write([]byte("level=INFO err=tok3n\n")); err != nil {
		t.Fatal(err)
	}
	if out.String() != "level=INFO err=REDACTED\n" {
		t.Errorf("log line = %q", out.String())
	}
	var nilR *redactor
	if nilR.redact("tok3n") != "tok3n" {
		t.Error("a nil redactor changed the text")
	}
}
