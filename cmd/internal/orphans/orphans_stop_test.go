package orphans

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"

	"github.com/mcpctl/mcpctl/bridge/proc"
)

func TestStopOrphans_EndsThemAndRemovesTheirSockets(t *testing.T) {
	home := homedir.Home{Dir: t.TempDir()}
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	start, err := proc.StartTime(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	sock := homedir.BridgeSocketPath(home, "s1", cmd.Process.Pid)
	if err := os.MkdirAll(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	Stop(ctx, home, []Orphan{{PID: cmd.Process.Pid, Start: start, Session: "s1", Generation: 1}}, slog.New(slog.DiscardHandler))

	var ee *exec.ExitError
	if err := cmd.Wait(); !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("the orphan ended with %v, want SIGTERM", err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("its socket %s: %v, want it removed", sock, err)
	}
}
