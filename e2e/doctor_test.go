package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// doctorDoc is the shape of `mcpctl doctor --json`.
type doctorDoc struct {
	OK     bool `json:"ok"`
	Checks []struct {
		Name   string   `json:"name"`
		OK     bool     `json:"ok"`
		Detail string   `json:"detail"`
		Diff   []string `json:"diff"`
	} `json:"checks"`
}

type doctorCheck = struct {
	Name   string   `json:"name"`
	OK     bool     `json:"ok"`
	Detail string   `json:"detail"`
	Diff   []string `json:"diff"`
}

// check returns the named check, failing the test when doctor did not run it.
func (d doctorDoc) check(t *testing.T, name string) doctorCheck {
	t.Helper()
	for _, c := range d.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("doctor ran no %q check: %+v", name, d.Checks)
	return doctorCheck{}
}

func TestDoctor_HealthyHomeIsOKInTextAndJSON(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	name := uniqueName(t)
	e.connectTest(name)
	e.ok("@"+name, "restart")
	waitQuiet(t, e, name, 1)
	hub := theHub(t, e.home)
	n := len(e.events())

	r := e.ok("doctor")
	wantNames := []string{"home", "hub", "store lock", "storage", "event log", "integrity", "projection"}
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if len(lines) != len(wantNames) {
		t.Fatalf("doctor printed %d lines, want one per check %v:\n%s", len(lines), wantNames, r.Stdout)
	}
	for i, line := range lines {
		if !strings.HasPrefix(line, "ok   "+wantNames[i]) {
			t.Errorf("doctor line %d = %q, want `ok   %s …`", i, line, wantNames[i])
		}
		if strings.Contains(line, "\x1b[") {
			t.Errorf("doctor line %d has ANSI colour on a pipe: %q", i, line)
		}
	}

	raw := e.ok("--json", "doctor")
	var doc doctorDoc
	dec := json.NewDecoder(strings.NewReader(raw.Stdout))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("doctor --json is not one {ok, checks:[{name, ok, detail, diff?}]} document: %v\n%s", err, raw.Stdout)
	}
	if dec.More() {
		t.Errorf("doctor --json printed more than one document:\n%s", raw.Stdout)
	}
	if !doc.OK {
		t.Errorf("doctor --json ok = false on a healthy home: %+v", doc)
	}
	if len(doc.Checks) != len(wantNames) {
		t.Errorf("doctor --json has %d checks, want %v", len(doc.Checks), wantNames)
	}
	for i, c := range doc.Checks {
		if i < len(wantNames) && c.Name != wantNames[i] {
			t.Errorf("check %d is %q, want %q", i, c.Name, wantNames[i])
		}
		if !c.OK || c.Detail == "" || len(c.Diff) != 0 {
			t.Errorf("check %q = %+v, want ok with a detail and no diff", c.Name, c)
		}
	}
	if c := doc.check(t, "hub"); !strings.Contains(c.Detail, fmt.Sprintf("pid %d", hub.PID)) || !strings.Contains(c.Detail, hub.URL) {
		t.Errorf("hub check %q does not name the running hub %+v", c.Detail, hub)
	}
	if c := doc.check(t, "store lock"); !strings.Contains(c.Detail, "store.lock held") {
		t.Errorf("store lock check %q, want it held", c.Detail)
	}
	// The log check counts what `events` prints; the replay covers the same head.
	wantLog := regexp.MustCompile(fmt.Sprintf(`^%d events \(seq 1\.\.%d\)`, n, n))
	if c := doc.check(t, "event log"); !wantLog.MatchString(c.Detail) {
		t.Errorf("event log check %q, want %q (what `events` prints)", c.Detail, wantLog)
	}
	if c := doc.check(t, "projection"); !strings.Contains(c.Detail, fmt.Sprintf("fresh replay of %d events (1 sessions", n)) {
		t.Errorf("projection check %q, want a replay of the %d events and 1 session", c.Detail, n)
	}
	// doctor only reads: the log did not grow.
	if got := len(e.events()); got != n {
		t.Errorf("doctor appended events: %d before, %d after", n, got)
	}
}

// waitQuiet waits until the superseded bridges of a session have exited and been recorded,
// so that the log stops growing by itself.
func waitQuiet(t *testing.T, e *env, session string, exited int) {
	t.Helper()
	// Generous: the old bridge exits within milliseconds, but on a loaded CI machine (the
	// suite beside fuzzing and other tests) it has been seen to take more than 5 s.
	testwait.For(t, 20*time.Second, func() error {
		if n := len(e.sessionEvents(session, events.KindBridgeExited)); n != exited {
			return fmt.Errorf("@%s has %d bridge_exited events, want %d", session, n, exited)
		}
		return nil
	})
}
