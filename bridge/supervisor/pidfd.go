package supervisor

import (
	"context"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/mcpctl/mcpctl/bridge/proc"
)

// pidfdWait opens a pidfd for a process that is not our child and returns a function that
// blocks until it exits (true) or ctx ends (false). The start time is checked after the pidfd is open, so
// the fd cannot refer to a process that reused the PID.
func pidfdWait(pid int, start uint64) (func(ctx context.Context) bool, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if !proc.Alive(pid, start) {
		unix.Close(fd)
		return nil, fmt.Errorf("pid %d: %w", pid, proc.ErrNoProcess)
	}
	return func(ctx context.Context) bool {
		defer unix.Close(fd)
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		for ctx.Err() == nil {
			n, err := unix.Poll(fds, 200)
			if err == unix.EINTR {
				continue
			}
			if err != nil || n > 0 {
				return true
			}
		}
		return false
	}, nil
}
