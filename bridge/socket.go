package bridge

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"golang.org/x/sys/unix"
)

// privateDir makes sure dir exists, belongs to us and is 0700. An existing directory of our
// own with wider modes is tightened; one of another user is refused.
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: %s is not a directory", events.ErrUnsafe, dir)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("%w: %s belongs to uid %d", events.ErrUnsafe, dir, st.Uid)
	}
	if fi.Mode().Perm() != 0o700 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("%w: %s: %v", events.ErrUnsafe, dir, err)
		}
	}
	return nil
}

// listenUnix binds a Unix socket at path (0600, in a 0700 directory) and returns the
// listener and the identity of the file it created. A stale socket nobody answers on is
// removed first; a live one is an error.
func listenUnix(path string) (*net.UnixListener, os.FileInfo, error) {
	if err := privateDir(filepath.Dir(path)); err != nil {
		return nil, nil, fmt.Errorf("socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, nil, fmt.Errorf("listen %s: a non-socket file is in the way", path)
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err == nil {
			_ = c.Close()
			return nil, nil, fmt.Errorf("listen %s: %w", path, syscall.EADDRINUSE)
		}
		// Left over by a dead process of the same pid: nobody will answer on it.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, fmt.Errorf("listen %s: removing stale socket: %w", path, err)
		}
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, nil, err
	}
	// Go would unlink the path on Close, whoever's socket is there by then.
	ln.SetUnlinkOnClose(false)
	// The directory is 0700, so nobody else can reach the socket in this window.
	if err := os.Chmod(path, 0o600); err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		_ = ln.Close()
		return nil, nil, err
	}
	return ln, fi, nil
}

// removeIfOurs removes path only when it is still the file described by ours: a successor
// that bound the same path keeps its socket.
func removeIfOurs(path string, ours os.FileInfo) (bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if !os.SameFile(fi, ours) {
		return false, nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return true, nil
}

// peerCred reads the peer's credentials of a Unix connection (SO_PEERCRED).
func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, credErr
}

// checkPeer accepts only peers running as uid.
func checkPeer(cred *unix.Ucred, uid int) error {
	if cred == nil {
		return fmt.Errorf("%w: no credentials", rpc.ErrPeerRefused)
	}
	if int(cred.Uid) != uid {
		return fmt.Errorf("%w: uid %d (pid %d) is not uid %d", rpc.ErrPeerRefused, cred.Uid, cred.Pid, uid)
	}
	return nil
}
