package hubclient

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
)

// startWithReadyPipe runs `sh -c script` with the write end of a readiness pipe as fd 3,
// the way spawnHub starts a hub, and returns the read end and the child's pid.
func startWithReadyPipe(t *testing.T, script string) (*os.File, int) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	cmd := exec.Command("sh", "-c", script)
	cmd.ExtraFiles = []*os.File{w}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		r.Close()
	})
	return r, cmd.Process.Pid
}

func TestWaitReady(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	t.Run("a byte means ready", func(t *testing.T) {
		r, _ := startWithReadyPipe(t, `printf x >&3; exec sleep 30`)
		if err := WaitReady(ctx, r); err != nil {
			t.Fatalf("waitReady after the byte: %v, want nil", err)
		}
	})
	t.Run("EOF without a byte means the writer exited", func(t *testing.T) {
		r, _ := startWithReadyPipe(t, `exit 3`)
		if err := WaitReady(ctx, r); !errors.Is(err, errHubExited) {
			t.Fatalf("waitReady after exit 3: %v, want errHubExited", err)
		}
	})
	t.Run("the deadline passes while the writer runs", func(t *testing.T) {
		r, _ := startWithReadyPipe(t, `exec sleep 30`)
		sctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		if err := WaitReady(sctx, r); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("waitReady with a silent writer: %v, want DeadlineExceeded", err)
		}
	})
}

func TestAwaitHub_ExitBeforeReadyNamesTheHubAndItsError(t *testing.T) {
	home := homedir.Home{Dir: t.TempDir()}
	if err := os.MkdirAll(filepath.Dir(home.HubLog()), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(home.HubLog(), []byte("mcpctl: an earlier hub's error\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logStart := fileSize(home.HubLog())
	r, pid := startWithReadyPipe(t, fmt.Sprintf(`echo "mcpctl: the store is locked" >> %q; exit 1`, home.HubLog()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := awaitHub(ctx, r, home, pid, logStart)
	if err == nil {
		t.Fatal("awaitHub of a hub that exited: nil, want its start-up error")
	}
	for _, want := range []string{"pid " + strconv.Itoa(pid), "exited during start-up", "the store is locked"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("awaitHub error %q does not contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "earlier hub") {
		t.Errorf("awaitHub error %q names an earlier hub's line", err)
	}
}
