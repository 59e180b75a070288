package orphans

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/projector"
)

// Orphans are bridges of this home and node that the log does not know: their session is
// not in it, or only an older generation is. That happens when the store was lost under
// running bridges (removed by hand, or restored from an older copy): the events that
// created them are gone, so no supervisor adopts them and nothing would ever stop them
// and their servers. The hub stops them when it starts (before its supervisor spawns
// anything), and `clean` does too. A bridge of a generation the log does know is never an
// orphan: the supervisor adopts it, or it exits by itself when superseded or closed.
type Orphan struct {
	PID        int
	Start      uint64
	Session    string
	Generation uint64
}

// orphanStopTimeout is how long a stopped orphan gets to end its server and exit before it
// is killed.
const orphanStopTimeout = 5 * time.Second

// findOrphans lists the live bridge processes of home and node that known does not account
// for. known returns the session's generation in the log, or false when the log has no such
// session.
func Find(home homedir.Home, node string, known func(session string) (uint64, bool)) []Orphan {
	var out []Orphan
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 2 || args[1] != "bridge" {
			continue
		}
		var session string
		var gen uint64
		for i := 2; i+1 < len(args); i++ {
			switch args[i] {
			case "--session":
				session = args[i+1]
			case "--generation":
				gen, _ = strconv.ParseUint(args[i+1], 10, 64)
			}
		}
		if session == "" {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || envValue(env, "MCPCTL_HOME") != home.Dir || envValue(env, "MCPCTL_NODE") != node {
			continue
		}
		start, err := proc.StartTime(pid)
		if err != nil {
			continue // gone, or a zombie its parent reaps
		}
		if g, ok := known(session); ok && gen <= g {
			continue
		}
		out = append(out, Orphan{PID: pid, Start: start, Session: session, Generation: gen})
	}
	return out
}

// envValue returns the last value of key in a /proc environ block (the last one is what
// the process's getenv sees).
func envValue(environ []byte, key string) string {
	v := ""
	for _, kv := range bytes.Split(environ, []byte{0}) {
		if k, val, ok := bytes.Cut(kv, []byte{'='}); ok && string(k) == key {
			v = string(val)
		}
	}
	return v
}

// stopOrphans stops each orphan (SIGTERM: a bridge ends its server and removes its socket;
// SIGKILL after orphanStopTimeout), all at once, waits on their pidfds until they exit, and
// removes sockets left behind. When ctx ends first it returns without waiting further.
func Stop(ctx context.Context, home homedir.Home, found []Orphan, logger *slog.Logger) {
	var wg sync.WaitGroup
	for _, o := range found {
		logger.Warn("stopping an orphan bridge: the log does not know its session or generation (was the store lost?)",
			"session", o.Session, "generation", o.Generation, "pid", o.PID)
		pfd, err := proc.OpenPidfd(o.PID, o.Start)
		if err != nil {
			if !errors.Is(err, proc.ErrNoProcess) {
				logger.Warn("stop an orphan bridge", "pid", o.PID, "err", err)
				continue
			}
			_ = os.Remove(homedir.BridgeSocketPath(home, o.Session, o.PID))
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pfd.Close()
			if err := pfd.Stop(ctx, orphanStopTimeout); err != nil {
				if ctx.Err() == nil {
					logger.Warn("stop an orphan bridge", "pid", o.PID, "err", err)
				}
				return
			}
			_ = os.Remove(homedir.BridgeSocketPath(home, o.Session, o.PID))
		}()
	}
	wg.Wait()
}

// orphanSummary names found for a person.
func Summary(found []Orphan) string {
	parts := make([]string, len(found))
	for i, o := range found {
		parts[i] = fmt.Sprintf("@%s generation %d (pid %d)", o.Session, o.Generation, o.PID)
	}
	return strings.Join(parts, ", ")
}

// knownIn returns the known function of findOrphans for a projection's sessions.
func KnownIn(sessions []projector.Session) func(string) (uint64, bool) {
	gens := map[string]uint64{}
	for _, s := range sessions {
		gens[s.Name] = s.Generation
	}
	return func(name string) (uint64, bool) {
		g, ok := gens[name]
		return g, ok
	}
}
