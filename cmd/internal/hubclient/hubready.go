package hubclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
)

// A CLI that spawns the hub passes it the write end of a pipe (hubReadyFD, named in
// hubReadyEnv). The hub writes one byte and closes it once hub.json names it and it serves;
// the CLI blocks on the read end. EOF without the byte means the hub exited during
// start-up: no process other than the hub holds the write end (it is close-on-exec there),
// so the kernel reports the exit itself, with no polling of hub.json or /proc.
const (
	HubReadyEnv = "MCPCTL_READY_FD"
	hubReadyFD  = 3 // the first of exec.Cmd.ExtraFiles
)

// errHubExited: the readiness pipe closed without the byte.
var errHubExited = errors.New("the hub exited before it served")

// waitReady blocks until the writer of r writes a byte (nil), closes r without one
// (errHubExited), or ctx ends (its cause).
func WaitReady(ctx context.Context, r *os.File) error {
	stop := context.AfterFunc(ctx, func() { _ = r.SetReadDeadline(time.Now()) })
	defer stop()
	var b [1]byte
	n, err := r.Read(b[:])
	switch {
	case n == 1:
		return nil
	case errors.Is(err, io.EOF):
		return errHubExited
	case ctx.Err() != nil:
		return context.Cause(ctx)
	}
	return fmt.Errorf("read the hub's readiness pipe: %w", err)
}

// awaitHub waits for the hub spawned as pid to say it serves. One that exits first is
// named with what it wrote to the hub log after logStart (hubStartError). It closes ready.
func awaitHub(ctx context.Context, ready *os.File, home homedir.Home, pid int, logStart int64) error {
	defer ready.Close()
	err := WaitReady(ctx, ready)
	if errors.Is(err, errHubExited) {
		return hubStartError(home, pid, logStart)
	}
	if err != nil {
		return fmt.Errorf("the hub (pid %d) did not come up within %s: %w", pid, hubStartTimeout, err)
	}
	return nil
}
