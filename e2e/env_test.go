package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"
)

// environOf returns a process's environment as NAME=value entries.
func environOf(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("environment of pid %d: %v", pid, err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// stdioServerOf waits for the one live bridge of a session and returns its server's pid
// (the bridge's only child).
func stdioServerOf(t *testing.T, e *env, session string) (bridge, server int) {
	t.Helper()
	testwait.For(t, 10*time.Second, func() error {
		bs := bridgePIDs(e.home, session)
		if len(bs) != 1 {
			return fmt.Errorf("bridges of @%s: %v, want one", session, bs)
		}
		kids := childrenOf(bs[0])
		if len(kids) != 1 {
			return fmt.Errorf("children of bridge %d: %v, want the server", bs[0], kids)
		}
		bridge, server = bs[0], kids[0]
		return nil
	})
	return bridge, server
}

// TestEnv_StdioServerGetsTheConnectingCLIsEnvironmentNotTheHubs: the hub is started by one
// CLI whose environment holds a marker and an MCPCTL_* secret; a stdio server connected from
// another CLI gets that CLI's environment (its marker, -e on top, its PATH to find the
// command) and nothing of the hub's, and no MCPCTL_* variable at all. A restart from a third
// CLI reuses the environment captured at connect. The hub and the bridge get neither marker.
func TestEnv_StdioServerGetsTheConnectingCLIsEnvironmentNotTheHubs(t *testing.T) {
	t.Parallel()
	e := isolated(t)
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	hubMarker, hubSecret := "hub-marker-"+suffix, "hub-nats-token-"+suffix
	cliMarker, cliSecret := "cli-marker-"+suffix, "cli-nats-password-"+suffix

	// MCPCTL_NATS_TOKEN without MCPCTL_NATS_URL leaves the CLI in embedded mode.
	first := &env{t: t, home: e.home, node: e.node, extra: []string{
		"E2E_HUB_MARKER=" + hubMarker, "MCPCTL_NATS_TOKEN=" + hubSecret}}
	first.ok("sessions")
	hub := theHub(t, e.home)

	// The command is found through the connecting CLI's PATH, which only it has.
	binDir := filepath.Dir(serverBin)
	second := &env{t: t, home: e.home, node: e.node, extra: []string{
		"E2E_CLI_MARKER=" + cliMarker, "MCPCTL_NATS_PASSWORD=" + cliSecret,
		"E2E_OVERRIDDEN=from-cli", "PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH")}}
	second.ok("connect", "@envy", "-e", "E2E_OVERRIDDEN=from-flag", "--", filepath.Base(serverBin))
	t.Cleanup(func() { e.run("close", "@envy") })

	check := func(when string) {
		t.Helper()
		bridge, server := stdioServerOf(t, e, "envy")
		got := environOf(t, server)
		has := func(kv string) bool {
			for _, x := range got {
				if x == kv {
					return true
				}
			}
			return false
		}
		if !has("E2E_CLI_MARKER=" + cliMarker) {
			t.Errorf("%s: the server (pid %d) lacks the connecting CLI's marker; environment: %v", when, server, got)
		}
		if !has("E2E_OVERRIDDEN=from-flag") {
			t.Errorf("%s: the server lacks E2E_OVERRIDDEN=from-flag (-e must win over the CLI's environment): %v", when, got)
		}
		for _, kv := range got {
			if strings.HasPrefix(kv, "MCPCTL_") {
				t.Errorf("%s: the server has mcpctl's variable %s", when, kv)
			}
			if strings.Contains(kv, hubMarker) || strings.Contains(kv, hubSecret) || strings.Contains(kv, cliSecret) {
				t.Errorf("%s: the server has %s", when, kv)
			}
		}
		for _, p := range []struct {
			what string
			pid  int
		}{{"hub", hub.PID}, {"bridge", bridge}} {
			for _, kv := range environOf(t, p.pid) {
				if strings.Contains(kv, hubMarker) || strings.Contains(kv, cliMarker) || strings.Contains(kv, hubSecret) || strings.Contains(kv, cliSecret) {
					t.Errorf("%s: the %s (pid %d) has %s: it must get a minimal environment", when, p.what, p.pid, kv)
				}
			}
		}
	}
	check("after connect")

	third := &env{t: t, home: e.home, node: e.node, extra: []string{"E2E_CLI_MARKER=third-" + suffix}}
	third.ok("restart", "@envy")
	check("after a restart from another CLI")
}
