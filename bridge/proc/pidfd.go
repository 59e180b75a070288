package proc

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Pidfd is a process handle that cannot come to name another process: a pidfd, opened while
// the process was the one that started at the recorded time. It becomes readable when the
// process exits, whether or not it is our child.
type Pidfd struct {
	pid int
	fd  int
}

// OpenPidfd opens a pidfd for pid. The start time is checked after the pidfd is open, so
// the fd cannot refer to a process that reused the PID; a process that is gone (or a
// zombie) is ErrNoProcess.
func OpenPidfd(pid int, start uint64) (*Pidfd, error) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ESRCH {
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	if !Alive(pid, start) {
		unix.Close(fd)
		return nil, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	return &Pidfd{pid: pid, fd: fd}, nil
}

// Signal sends sig to the process through the pidfd (never to a process that reused the PID).
// A process that has exited is not an error.
func (p *Pidfd) Signal(sig syscall.Signal) error {
	err := unix.PidfdSendSignal(p.fd, sig, nil, 0)
	if err == unix.ESRCH {
		return nil
	}
	return err
}

// pidfdPollMax bounds one poll(2) on the pidfd, so that a cancelled ctx without a deadline
// is noticed: poll cannot wait on a channel. The exit itself wakes the poll at once.
const pidfdPollMax = 200 * time.Millisecond

// Wait blocks until the process exits (true) or ctx ends (false).
func (p *Pidfd) Wait(ctx context.Context) bool {
	fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
	for ctx.Err() == nil {
		timeout := pidfdPollMax
		if d, ok := ctx.Deadline(); ok {
			timeout = min(timeout, max(time.Until(d), time.Millisecond))
		}
		n, err := unix.Poll(fds, int(timeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil || n > 0 {
			return true
		}
	}
	return false
}

// Close releases the pidfd.
func (p *Pidfd) Close() error { return unix.Close(p.fd) }

// Stop sends SIGTERM and waits for the process to exit; after grace it sends SIGKILL and
// waits again. It returns ctx's error when ctx ends first, and nil once the process is gone.
func (p *Pidfd) Stop(ctx context.Context, grace time.Duration) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("SIGTERM pid %d: %w", p.pid, err)
	}
	gctx, cancel := context.WithTimeout(ctx, grace)
	exited := p.Wait(gctx)
	cancel()
	if exited {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := p.Signal(syscall.SIGKILL); err != nil {
		return fmt.Errorf("SIGKILL pid %d: %w", p.pid, err)
	}
	if !p.Wait(ctx) {
		return ctx.Err()
	}
	return nil
}
