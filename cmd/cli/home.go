package cli

import (
	"strconv"

	"github.com/mcpctl/mcpctl/bridge/rpc"

	"fmt"
	"os"
	"path/filepath"

	"github.com/mcpctl/mcpctl/events"
)

// Home is the layout of $MCPCTL_HOME. Every path mcpctl touches is named here.
type Home struct {
	Dir string
}

// DefaultHome returns $MCPCTL_HOME, or ~/.mcpctl.
func DefaultHome() (Home, error) {
	if d := os.Getenv("MCPCTL_HOME"); d != "" {
		abs, err := filepath.Abs(d)
		if err != nil {
			return Home{}, fmt.Errorf("MCPCTL_HOME: %w", err)
		}
		return Home{Dir: abs}, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return Home{}, fmt.Errorf("no home directory: set MCPCTL_HOME: %w", err)
	}
	return Home{Dir: filepath.Join(h, ".mcpctl")}, nil
}

func (h Home) StoreDir() string    { return filepath.Join(h.Dir, "hub") }
func (h Home) AddressFile() string { return filepath.Join(h.Dir, "hub.json") }
func (h Home) TokenFile() string   { return filepath.Join(h.Dir, "hub.token") }
func (h Home) SpawnLock() string   { return filepath.Join(h.Dir, "hub.spawn.lock") }
func (h Home) LogDir() string      { return filepath.Join(h.Dir, "logs") }
func (h Home) HubLog() string      { return filepath.Join(h.Dir, "logs", "hub.log") }
func (h Home) BridgeDir() string   { return filepath.Join(h.Dir, "bridges") }
func (h Home) SecretsDir() string  { return filepath.Join(h.Dir, "secrets") }
func (h Home) SessionLogDir() string {
	return filepath.Join(h.Dir, "logs", "sessions")
}

// SessionLog is where a session's bridge and stdio server write: a directory of its own,
// so no session name can reach the hub's log (a session named "hub" used to share
// logs/hub.log).
func (h Home) SessionLog(s string) string {
	return filepath.Join(h.SessionLogDir(), s+".log")
}

// legacySessionLog is where homes of before kept a session's log. `logs` reads it while the
// new one does not exist; never for "hub", whose old path is the hub's own log.
func (h Home) legacySessionLog(s string) string {
	if s == "hub" {
		return ""
	}
	return filepath.Join(h.Dir, "logs", s+".log")
}
func (h Home) SecretsFile(s string) string {
	return filepath.Join(h.Dir, "secrets", s+".json")
}

// Ensure creates the home with mode 0700 and refuses one that other users can enter.
func (h Home) Ensure() error {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("create home: %w", err)
	}
	fi, err := os.Stat(h.Dir)
	if err != nil {
		return err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return withHint(fmt.Errorf("%w: home %s has mode %04o, other users could reach the hub and bridges",
			events.ErrUnsafe, h.Dir, fi.Mode().Perm()), ExitUsage, "chmod 700 "+h.Dir)
	}
	for _, d := range []string{h.LogDir(), h.SessionLogDir(), h.BridgeDir(), h.SecretsDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// DefaultNode returns $MCPCTL_NODE or the sanitized host name.
func DefaultNode() (string, error) {
	if n := os.Getenv("MCPCTL_NODE"); n != "" {
		if err := events.ValidateNode(n); err != nil {
			return "", fmt.Errorf("MCPCTL_NODE: %w", err)
		}
		return n, nil
	}
	host, _ := os.Hostname()
	return events.SanitizeNode(host), nil
}

// BridgeSocketPath is where the bridge of session with pid listens. The supervisor computes
// the same path from the child's pid to record it in bridge_spawned.
func BridgeSocketPath(home Home, session string, pid int) string {
	return rpc.SocketPath(filepath.Join(home.BridgeDir(), session+"."+strconv.Itoa(pid)+".sock"))
}
