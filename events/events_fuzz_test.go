package events

import (
	"bytes"
	"testing"
)

// FuzzUnmarshal: any bytes from the log are either an event or ErrInvalidEvent, never a
// panic; an event that decodes re-encodes to bytes that decode to the same encoding (so
// an unknown kind or a newer schema version survives a round trip through the CLI).
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`{"v":1,"type":"created","node":"n","session":"s","generation":1,"time":"2026-01-02T03:04:05Z","actor":{"pid":1,"host":"h","user":"u","command":"mcpctl connect"},"server":{"transport":"stdio","command":"x","args":["a"]}}`,
		`{"v":99,"type":"from_the_future","node":"n","session":"s","generation":3,"extra":{"x":[1,2]}}`,
		`{"v":1,"type":"bridge_exited","code":-1,"signal":"SIGKILL","pid":42}`,
		`{"v":1,"type":"closed","reason":"caf\u00e9 \ud800"}`,
		`{"generation":-1}`, `{"generation":18446744073709551616}`, `{"time":"yesterday"}`,
		``, `null`, `[]`, `{`, "{\"reason\":\"\xff\"}", `{"v":1}x`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := Unmarshal(data)
		if err != nil {
			if !bytes.Contains([]byte(err.Error()), []byte(ErrInvalidEvent.Error())) {
				t.Fatalf("Unmarshal(%q): %v does not wrap ErrInvalidEvent", data, err)
			}
			return
		}
		b1, err := e.Marshal()
		if err != nil {
			t.Fatalf("Marshal of %+v (from %q): %v", e, data, err)
		}
		e2, err := Unmarshal(b1)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(%q)) = %v", data, err)
		}
		b2, _ := e2.Marshal()
		if !bytes.Equal(b1, b2) {
			t.Fatalf("round trip of %q not stable:\n%s\n%s", data, b1, b2)
		}
	})
}
