package bridge

import (
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestRawAsks_KeepTheServersOrderAcrossReads(t *testing.T) {
	const params = `{"message":"m","requestedSchema":{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"number"}}}}`
	stream := `{"jsonrpc":"2.0","id":1,"result":{}}` + "\n" +
		`{"jsonrpc":"2.0","id":7,"method":"elicitation/create","params":` + params + "}\n" +
		`data: {"jsonrpc":"2.0","id":"s-1","method":"elicitation/create","params":` + params + "}\n" +
		`{"jsonrpc":"2.0","id":8,"method":"roots/list"}` + "\n"
	var raw rawAsks
	// One byte per read: lines are put together across reads, and the stream passes
	// through unchanged.
	got, err := io.ReadAll(&lineTee{r: iotest.OneByteReader(strings.NewReader(stream)), note: raw.note})
	if err != nil || string(got) != stream {
		t.Fatalf("the stream changed on its way: %v", err)
	}
	var decoded any
	_ = json.Unmarshal([]byte(params), &decoded)
	for _, id := range []string{`7`, `"s-1"`} {
		p, ok := raw.take(json.RawMessage(id), decoded)
		if !ok || string(p) != params {
			t.Errorf("id %s: %s, %v; want the params as written", id, p, ok)
		}
	}
	if _, ok := raw.take(json.RawMessage(`7`), decoded); ok {
		t.Error("an ask was taken twice")
	}
	if _, ok := raw.take(json.RawMessage(`8`), nil); ok {
		t.Error("a roots/list request was kept")
	}
	// A kept ask whose id comes back with other params (an id reused) is not used.
	raw.note([]byte(`{"jsonrpc":"2.0","id":9,"method":"elicitation/create","params":` + params + "}"))
	if _, ok := raw.take(json.RawMessage(`9`), map[string]any{"message": "other"}); ok {
		t.Error("params kept for another request were used")
	}
}
