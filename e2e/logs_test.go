package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// TestLogs_SessionNamedHubKeepsOutOfTheHubLog: session logs live in a directory of their own,
// so a session named "hub" writes its bridge's and server's stderr to logs/sessions/hub.log,
// never into the hub's logs/hub.log, and `mcpctl @hub logs` prints its own lines only.
func TestLogs_SessionNamedHubKeepsOutOfTheHubLog(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	e.ok("connect", "@hub", "--", serverBin, "--stderr-lines", "3")
	t.Cleanup(func() { e.run("close", "@hub") })
	const marker = "mcptestserver stderr line 3/3"
	sessionLog := filepath.Join(e.home, "logs", "sessions", "hub.log")
	testwait.For(t, 10*time.Second, func() error {
		b, err := os.ReadFile(sessionLog)
		if err != nil || !strings.Contains(string(b), marker) {
			return fmt.Errorf("%s has no %q yet (%v)", sessionLog, marker, err)
		}
		return nil
	})
	if fi, err := os.Stat(filepath.Dir(sessionLog)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("logs/sessions: %v, %v; want a 0700 directory", fi, err)
	}
	hubLog, err := os.ReadFile(filepath.Join(e.home, "logs", "hub.log"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if strings.Contains(string(hubLog), "mcptestserver stderr") {
		t.Errorf("the hub's log has the session's server stderr:\n%s", hubLog)
	}
	r := e.ok("@hub", "logs", "-n", "0")
	if !strings.Contains(r.Stdout, marker) {
		t.Errorf("mcpctl @hub logs does not show the session's stderr:\n%s", r)
	}
	if len(hubLog) > 0 && strings.Contains(r.Stdout, strings.SplitN(strings.TrimSpace(string(hubLog)), "\n", 2)[0]) {
		t.Errorf("mcpctl @hub logs shows the hub's log:\n%s", r)
	}
}

// TestLogs_HomeOfBeforeIsStillRead: a home whose session logs are still at logs/<name>.log
// (before logs/sessions/) keeps `mcpctl @name logs` working until the session's bridge runs
// again; for "hub" that old path is the hub's own log and is never shown as a session's.
func TestLogs_HomeOfBeforeIsStillRead(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	must(t, os.MkdirAll(filepath.Join(e.home, "logs"), 0o700))
	must(t, os.WriteFile(filepath.Join(e.home, "logs", "old.log"), []byte("old line 1\nold line 2\n"), 0o600))
	must(t, os.WriteFile(filepath.Join(e.home, "logs", "hub.log"), []byte("the hub's own line\n"), 0o600))
	if r := e.ok("@old", "logs"); r.Stdout != "old line 1\nold line 2\n" {
		t.Errorf("logs of a home of before:\n%s", r)
	}
	if r := e.run("@hub", "logs"); r.Code != 1 || strings.Contains(r.Stdout, "the hub's own line") {
		t.Errorf("mcpctl @hub logs with only the hub's log: want exit 1 and no hub lines:\n%s", r)
	}
}
