package session

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit/cmdtest"
)

func TestJSONLinesWriter_OneObjectPerLineWhateverThePieces(t *testing.T) {
	const text = "time=2026-11-30T14:43:44.637Z level=WARN msg=\"probe failed\" session=s\nserver says \"hi\"\ttab\nno newline at the end"
	// Written whole, byte by byte, and in uneven pieces: the same lines.
	for _, pieces := range [][]string{{text}, strings.Split(text, ""), {text[:5], text[5:70], text[70:71], text[71:]}} {
		var out bytes.Buffer
		w := &jsonLinesWriter{w: &out, session: "s"}
		for _, p := range pieces {
			if _, err := w.Write([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var got []logLine
		sc := bufio.NewScanner(&out)
		for sc.Scan() {
			var l logLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("line %q is not a JSON object: %v", sc.Text(), err)
			}
			got = append(got, l)
		}
		want := []logLine{
			{Session: "s", Time: "2026-11-30T14:43:44.637Z", Level: "WARN", Line: "time=2026-11-30T14:43:44.637Z level=WARN msg=\"probe failed\" session=s"},
			{Session: "s", Line: "server says \"hi\"\ttab"},
			{Session: "s", Line: "no newline at the end"},
		}
		if len(got) != len(want) {
			t.Fatalf("%d pieces: got %d lines %+v, want %d", len(pieces), len(got), got, len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("%d pieces, line %d = %+v, want %+v", len(pieces), i+1, got[i], want[i])
			}
		}
	}
}

func TestLogs_JSONIsJSONLines(t *testing.T) {
	h := cmdtest.New(t)
	writeLog(t, h.Home.SessionLog("s"), 5)
	r := h.Run(t, NewCmdLogs, "", "logs", "@s", "-n", "2", "--json")
	if r.Code != 0 || r.ErrOut != "" {
		t.Fatalf("logs @s -n 2 --json: exit %d, stderr %q", r.Code, r.ErrOut)
	}
	want := `{"session":"s","line":"line 4"}` + "\n" + `{"session":"s","line":"line 5"}` + "\n"
	if r.Out != want {
		t.Errorf("logs @s -n 2 --json printed %q, want %q", r.Out, want)
	}
}
