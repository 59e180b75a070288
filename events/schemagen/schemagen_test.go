package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// TestCheckedInSchemasAreCurrent fails when a Go event type changed and docs/schema was
// not regenerated.
func TestCheckedInSchemasAreCurrent(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join("..", "..", "docs", "schema")
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: %v (run: go run ./events/schemagen)", name, err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("docs/schema/%s is stale: run `go run ./events/schemagen` and commit the result", name)
		}
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if _, ok := files[e.Name()]; !ok {
			t.Errorf("docs/schema/%s is not generated any more: remove it", e.Name())
		}
	}
}

// TestEventSchemaDescribesWhatMarshalWrites checks the generated schema against a real
// payload: every key of a full event is a property, and every required property is there.
func TestEventSchemaDescribesWhatMarshalWrites(t *testing.T) {
	files, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage
		Required   []string
	}
	if err := json.Unmarshal(files["event.json"], &schema); err != nil {
		t.Fatal(err)
	}
	code := 3
	e := events.New(events.KindBridgeExited, "n", "s", 2)
	e.Code, e.Signal, e.PID, e.Reason, e.Error = &code, "killed", 7, "r", "x"
	e.Server = &events.Server{Transport: events.TransportStdio, Command: "c"}
	e.Seq, e.Time = 9, time.Now()
	b, _ := json.Marshal(e)
	var payload map[string]json.RawMessage
	if err := json.Unmarshal(b, &payload); err != nil {
		t.Fatal(err)
	}
	for k := range payload {
		if _, ok := schema.Properties[k]; !ok {
			t.Errorf("payload key %q is not in the schema", k)
		}
	}
	for _, k := range schema.Required {
		if _, ok := payload[k]; !ok {
			t.Errorf("required %q is missing from a marshalled event", k)
		}
	}
}
