package e2e

import (
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/events"
)

func TestConnect_StdioSessionCallsAToolAndRecordsItsLifecycle(t *testing.T) {
	t.Parallel()
	e := shared(t)
	name := uniqueName(t)
	e.connectTest(name)

	r := e.ok("@"+name, "tools-call", "add", "a:=2", "b:=40")
	if got := strings.TrimSpace(r.Stdout); got != "42" {
		t.Fatalf("tools-call add 2 40 printed %q, want 42", got)
	}
	evs := e.sessionEvents(name)
	var kinds []events.Kind
	for _, ev := range evs {
		kinds = append(kinds, ev.Type)
	}
	want := []events.Kind{events.KindCreated, events.KindBridgeSpawned, events.KindBridgeReady}
	if len(kinds) < 3 || kinds[0] != want[0] || countKind(evs, events.KindBridgeSpawned) != 1 || countKind(evs, events.KindBridgeReady) != 1 {
		t.Fatalf("events of @%s = %v, want %v", name, kinds, want)
	}
	if pids := bridgePIDs(e.home, name); len(pids) != 1 {
		t.Fatalf("live bridges of @%s: %v, want exactly one", name, pids)
	}
}
