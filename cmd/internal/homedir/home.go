package homedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"

	"github.com/mcpctl/mcpctl/bridge/rpc"
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

// AuthDir holds the OAuth profiles (tokens, 0600 files) and their lock files.
func (h Home) AuthDir() string { return filepath.Join(h.Dir, "auth") }
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
func (h Home) LegacySessionLog(s string) string {
	if s == "hub" {
		return ""
	}
	return filepath.Join(h.Dir, "logs", s+".log")
}
func (h Home) SecretsFile(s string) string {
	return filepath.Join(h.Dir, "secrets", s+".json")
}

// Ensure creates the home with mode 0700 and refuses one that other users can enter. The
// directories mcpctl keeps inside it (logs, bridges, secrets) must be real directories of
// this user with mode 0700: a symbolic link, say into a world-writable directory, would put
// header values and server output where others can read or replace them.
func (h Home) Ensure() error {
	if err := os.MkdirAll(h.Dir, 0o700); err != nil {
		return fmt.Errorf("create home: %w", err)
	}
	fi, err := os.Stat(h.Dir)
	if err != nil {
		return err
	}
	if err := CheckPrivateDir(h.Dir, "home", fi); err != nil {
		return err
	}
	var missing []string
	for _, d := range []string{h.LogDir(), h.SessionLogDir(), h.BridgeDir(), h.SecretsDir()} {
		fi, err := os.Lstat(d)
		switch {
		case errors.Is(err, os.ErrNotExist):
			missing = append(missing, d)
		case err != nil:
			return err
		default:
			if err := CheckPrivateDir(d, filepath.Base(d)+"/ of the home", fi); err != nil {
				return err
			}
		}
	}
	for _, d := range missing {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return err
		} else if err != nil { // created meanwhile by another process: check what is there
			fi, err := os.Lstat(d)
			if err != nil {
				return err
			}
			if err := CheckPrivateDir(d, filepath.Base(d)+"/ of the home", fi); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkPrivateDir refuses a directory that is not a directory (a symbolic link, when fi is
// from Lstat), not this user's, or open to others. The hint never suggests chmod on a
// directory the user shares with others (/tmp): that would break the system for everyone.
func CheckPrivateDir(path, what string, fi os.FileInfo) error {
	if fi.Mode()&os.ModeSymlink != 0 {
		target, _ := os.Readlink(path)
		return clierr.WithHint(fmt.Errorf("%w: %s %s is a symbolic link (to %s); mcpctl keeps logs, sockets and secrets only in real directories of its home",
			events.ErrUnsafe, what, path, target), clierr.ExitUsage, "rm "+path+"   (only the link; mcpctl creates the directory again, mode 0700)")
	}
	if !fi.IsDir() {
		return clierr.WithHint(fmt.Errorf("%w: %s %s is not a directory", events.ErrUnsafe, what, path), clierr.ExitUsage,
			"move it away: mv "+path+" "+path+".bak")
	}
	mode := fi.Mode().Perm()
	if fi.Mode()&os.ModeSticky != 0 {
		mode |= 0o1000
	}
	uid, owned := ownerOf(fi)
	switch {
	case !owned:
		return clierr.WithHint(fmt.Errorf("%w: %s %s belongs to uid %d, not to you (uid %d)", events.ErrUnsafe, what, path, uid, os.Getuid()),
			clierr.ExitUsage, privateHomeHint)
	case mode&0o077 == 0:
		return nil
	case mode&0o1000 != 0 || mode&0o002 != 0:
		// /tmp and the like: shared on purpose; the fix is another home, not chmod.
		return clierr.WithHint(fmt.Errorf("%w: %s %s has mode %04o, a directory shared with other users", events.ErrUnsafe, what, path, mode),
			clierr.ExitUsage, privateHomeHint)
	}
	return clierr.WithHint(fmt.Errorf("%w: %s %s has mode %04o, other users could reach the hub and bridges",
		events.ErrUnsafe, what, path, mode), clierr.ExitUsage, "chmod 700 "+path)
}

// privateHomeHint is the way out of a home mcpctl must not use.
const privateHomeHint = "use a private directory: MCPCTL_HOME=$(mktemp -d), or unset MCPCTL_HOME for ~/.mcpctl"

// ownerOf returns the directory's owner and whether it is this process's user.
func ownerOf(fi os.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, true
	}
	return st.Uid, int(st.Uid) == os.Getuid()
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
