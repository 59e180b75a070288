package mcp

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
)

func TestToolSignature_FromTheInputSchemaInItsOrder(t *testing.T) {
	for _, tc := range []struct{ schema, want string }{
		{`{"type":"object","properties":{"query":{"type":"string"},"limit":{"type":"integer"}},"required":["query"]}`,
			"search(query: string, limit?: integer)"},
		// The schema's order, not the alphabet's.
		{`{"type":"object","properties":{"z":{"type":"number"},"a":{"type":"boolean"}},"required":["a","z"]}`,
			"search(z: number, a: boolean)"},
		{`{"type":"object"}`, "search()"},
		{``, "search()"},
		{`{"properties":{"tags":{"type":"array","items":{"type":"string"}}}}`, "search(tags?: string[])"},
		{`{"properties":{"m":{"type":"array"}}}`, "search(m?: any[])"},
		{`{"properties":{"city":{"type":"string","enum":["New York","Chicago"]}}}`, `search(city?: "New York"|"Chicago")`},
		{`{"properties":{"n":{"type":["integer","null"]}}}`, "search(n?: integer|null)"},
		{`{"properties":{"v":{"anyOf":[{"type":"string"},{"type":"number"}]}}}`, "search(v?: string|number)"},
		{`{"properties":{"v":{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"number"}]}}}}`, "search(v?: (string|number)[])"},
		{`{"properties":{"k":{"const":"x"}}}`, `search(k?: "x")`},
		{`{"properties":{"o":{"type":"object","properties":{"x":{}}}}}`, "search(o?: object)"},
		{`{"properties":{"x":{}}}`, "search(x?: any)"},
		{`{"properties":[1,2]}`, "search()"},
	} {
		if got := toolSignature("search", json.RawMessage(tc.schema)); got != tc.want {
			t.Errorf("toolSignature(%s) = %q, want %q", tc.schema, got, tc.want)
		}
	}
}

func TestToolHints_TheOnesTheServerSetTrue(t *testing.T) {
	for _, tc := range []struct{ ann, want string }{
		{`{}`, ""},
		{`{"readOnlyHint":true,"destructiveHint":true,"idempotentHint":true,"openWorldHint":false}`, "read-only"},
		{`{"readOnlyHint":false,"destructiveHint":true,"idempotentHint":true,"openWorldHint":true}`, "destructive, idempotent, open-world"},
		{`{"destructiveHint":false,"idempotentHint":false}`, ""},
	} {
		var v toolView
		if err := json.Unmarshal([]byte(`{"name":"t","annotations":`+tc.ann+`}`), &v); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(v.hints(), ", "); got != tc.want {
			t.Errorf("hints(%s) = %q, want %q", tc.ann, got, tc.want)
		}
	}
}

func TestPrintTool_ShowsOutputSchemaAnnotationsAndTaskSupport(t *testing.T) {
	const tool = `{"name":"weather","title":"Weather","description":"Today's weather.\nIn one city.",
		"inputSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},
		"outputSchema":{"type":"object","properties":{"temp":{"type":"number"}}},
		"annotations":{"readOnlyHint":true},"execution":{"taskSupport":"optional"}}`
	var out bytes.Buffer
	if err := printTool(&out, &cmdkit.IOStreams{}, json.RawMessage(tool)); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{"weather\n", "signature: weather(city: string)\n", "title: Weather\n", "Today's weather.\nIn one city.\n",
		"annotations: read-only\n", "task support: optional\n", "input schema:\n{", "output schema:\n{", `"temp"`} {
		if !strings.Contains(got, want) {
			t.Errorf("tools-get output has no %q:\n%s", want, got)
		}
	}
	out.Reset()
	if err := printTool(&out, &cmdkit.IOStreams{}, json.RawMessage(`{"name":"bare","inputSchema":{"type":"object"}}`)); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"annotations: none given\n", "task support: forbidden (not declared)\n", "output schema: none\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("tools-get of a bare tool has no %q:\n%s", want, out.String())
		}
	}
}
