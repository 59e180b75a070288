package sessioncall

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/events/testwait"
	"github.com/spf13/pflag"
)

// A /proc start time becomes the latest wall-clock moment the process may have started:
// never before it, so `restart; restart` is never taken for callers started together.
func TestStartedAt_RoundsTheTickUp(t *testing.T) {
	now := time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name      string
		sinceBoot time.Duration
		ticks     uint64
		want      time.Time
	}{
		{"started 5 s ago, within tick 500", 10 * time.Second, 500, now.Add(-5*time.Second + 10*time.Millisecond)},
		{"started in the tick still running: now", 10*time.Second + 5*time.Millisecond, 1000, now},
		{"started in the tick before", 10*time.Second + 15*time.Millisecond, 1000, now.Add(-5 * time.Millisecond)},
		{"tick after now (clock skew): now", 10 * time.Second, 2000, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := startedAt(now, tc.sinceBoot, tc.ticks); !got.Equal(tc.want) {
				t.Errorf("startedAt(now, %s, %d) = %s, want %s", tc.sinceBoot, tc.ticks, got.Sub(now), tc.want.Sub(now))
			}
		})
	}
	if got := InvokedAt(); got.After(time.Now()) || time.Since(got) > time.Hour {
		t.Errorf("invokedAt() = %s ago, want this test process's start", time.Since(got))
	}
}

// Which siblings count as the same restart: an explicit restart of the same session in
// either word order, with any flags; nothing else.
func TestRestartKey(t *testing.T) {
	global := pflag.NewFlagSet("mcpctl", pflag.ContinueOnError)
	cmdkit.AddGlobalFlags(global, cmdkit.NewFactory(&cmdkit.IOStreams{}))
	for _, tc := range []struct {
		args []string
		want string
		ok   bool
	}{
		{[]string{"restart", "@s"}, "@s", true},
		{[]string{"@s", "restart"}, "@s", true},
		{[]string{"--json", "restart", "@s"}, "@s", true},
		{[]string{"--timeout", "5s", "@s", "restart", "--json"}, "@s", true},
		{[]string{"restart", "@other"}, "@other", true},
		{[]string{"@s", "tools-call", "restart"}, "", false},
		{[]string{"@s", "logs", "-f"}, "", false},
		{[]string{"connect", "@s", "--", "restart", "@s"}, "", false},
		{[]string{"restart"}, "", false},
		{nil, "", false},
	} {
		if got, ok := restartKey(tc.args, global); got != tc.want || ok != tc.ok {
			t.Errorf("restartKey(%q) = %q, %v; want %q, %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}

// A sibling restarting a session of the same name counts only on the same home and node:
// parallel tests share their parent, and each runs on a home of its own.
func TestSameTarget_ComparesHomeNodeAndCluster(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []string
		want  bool
	}{
		{"same environment", nil, true},
		{"another home", []string{"MCPCTL_HOME=/elsewhere"}, false},
		{"another node", []string{"MCPCTL_NODE=other-node"}, false},
		{"a cluster", []string{"MCPCTL_NATS_URL=nats://127.0.0.1:1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("sleep", "30")
			cmd.Env = append(os.Environ(), tc.extra...)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			// Right after Start the child may still be in execve, its environment not yet set up.
			testwait.For(t, 5*time.Second, func() error {
				if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid)); err != nil || len(b) == 0 {
					return fmt.Errorf("environ of %d not readable yet: %v", cmd.Process.Pid, err)
				}
				return nil
			})
			if got := sameTarget(cmd.Process.Pid); got != tc.want {
				t.Errorf("sameTarget of a process with %q = %v, want %v", tc.extra, got, tc.want)
			}
		})
	}
}
