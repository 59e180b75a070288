package hubclient

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"

	"github.com/mcpctl/mcpctl/bridge/proc"
)

// startSleeper starts a process that lives until the test ends.
func startSleeper(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

func waitState(t *testing.T, pid int, want byte) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		st, err := proc.ReadStat(pid)
		if err == nil && st.State == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: state %q, want %q (%v)", pid, st.State, want, err)
		}
		<-tick.C
	}
}

func TestHubNotAnswering_NamesTheHubItsStateAndWhatToDo(t *testing.T) {
	ctx, cancel := context.WithTimeoutCause(context.Background(), time.Nanosecond, errors.New("timed out after 3s (--timeout)"))
	defer cancel()
	<-ctx.Done()
	home := homedir.Home{Dir: "/home/u/.mcpctl"}
	dial := errors.New("i/o timeout")

	t.Run("stopped", func(t *testing.T) {
		pid := startSleeper(t)
		if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		waitState(t, pid, 'T')
		err := hubNotAnswering(home, pid, true, dial, ctx)
		for _, want := range []string{fmt.Sprintf("the hub (pid %d) is not answering", pid), "it is stopped", "it was not signalled",
			"timed out after 3s (--timeout)", "i/o timeout"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not say %q", err, want)
			}
		}
		if got, want := clierr.HintOf(err), fmt.Sprintf("kill -CONT %d", pid); !strings.HasPrefix(got, want) {
			t.Errorf("hint %q, want it to start with %q", got, want)
		}
		if got := clierr.ExitCode(err); got != clierr.ExitNetwork {
			t.Errorf("exit code %d, want %d", got, clierr.ExitNetwork)
		}
	})
	t.Run("running", func(t *testing.T) {
		pid := startSleeper(t)
		err := hubNotAnswering(home, pid, true, nil, ctx)
		if strings.Contains(err.Error(), "stopped") || !strings.Contains(err.Error(), fmt.Sprintf("the hub (pid %d) is not answering", pid)) {
			t.Errorf("error for a running hub: %q", err)
		}
		if got := clierr.HintOf(err); !strings.Contains(got, fmt.Sprintf("kill %d", pid)) {
			t.Errorf("hint %q does not name kill %d", got, pid)
		}
	})
	t.Run("not named in hub.json", func(t *testing.T) {
		pid := startSleeper(t)
		err := hubNotAnswering(home, pid, false, nil, ctx)
		if !strings.Contains(err.Error(), "owns the store of /home/u/.mcpctl") || !strings.Contains(err.Error(), "hub.json does not name it") {
			t.Errorf("error for an owner hub.json does not name: %q", err)
		}
	})
}
