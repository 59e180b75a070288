package hubd

import (
	"os"
	"strconv"
	"syscall"

	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
)

// readyPipeFromEnv returns the readiness pipe a spawning CLI passed (nil when none: a hub
// run by hand). It is made close-on-exec at once, so bridges the hub starts before it
// serves do not hold it open, and the variable is cleared.
func readyPipeFromEnv() *os.File {
	v := os.Getenv(hubclient.HubReadyEnv)
	if v == "" {
		return nil
	}
	_ = os.Unsetenv(hubclient.HubReadyEnv)
	fd, err := strconv.Atoi(v)
	if err != nil || fd < 3 {
		return nil
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil // not a pipe: not ours to write to or close (the variable came from elsewhere)
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "hub-ready")
}

// signalReady writes the ready byte and closes the pipe; nil (no pipe) does nothing.
func signalReady(f *os.File) error {
	if f == nil {
		return nil
	}
	_, err := f.Write([]byte{1})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
