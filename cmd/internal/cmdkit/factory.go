package cmdkit

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
)

// Version is set at link time (-ldflags "-X github.com/mcpctl/mcpctl/cmd/internal/cmdkit.Version=…").
var Version = "dev"

// Factory hands out a command's dependencies lazily, so that --help and --version start
// nothing and dial nothing.
type Factory struct {
	IO *IOStreams

	// Home and Node are resolved on first use.
	Home func() (homedir.Home, error)
	Node func() (string, error)
	// Hub returns a connection to the running hub, starting one when none runs.
	Hub func(ctx context.Context) (*hubclient.HubConn, error)
	// Executable is the mcpctl binary that hubs and bridges are started from.
	Executable func() (string, error)
	// Build identifies this build: a CLI of another build replaces a stale hub.
	Build func() string

	// OnDenied hears of a subject the NATS cluster's permissions refused this process
	// (external mode); Run ends the command with it. Nil: nobody listens.
	OnDenied func(error)

	// Global flags, filled by the root command.
	External externalFlags // --nats-url and friends (external.go)
	JSON     bool
	Verbose  bool
	Timeout  time.Duration
	// MaxChars cuts human output after this many characters (--max-chars; 0: no limit).
	MaxChars int
}

// NewFactory wires the real dependencies.
func NewFactory(io *IOStreams) *Factory {
	f := &Factory{IO: io}
	f.Home = sync.OnceValues(homedir.DefaultHome)
	f.Node = sync.OnceValues(homedir.DefaultNode)
	f.Executable = sync.OnceValues(os.Executable)
	f.Build = sync.OnceValue(func() string { return buildID(f) })
	var (
		mu  sync.Mutex
		hub *hubclient.HubConn
	)
	f.Hub = func(ctx context.Context) (*hubclient.HubConn, error) {
		mu.Lock()
		defer mu.Unlock()
		if hub != nil {
			return hub, nil
		}
		t, err := f.Target()
		if err != nil {
			return nil, err
		}
		h, err := hubclient.ConnectHub(ctx, t)
		if err != nil {
			return nil, err
		}
		hub = h
		return hub, nil
	}
	return f
}

// buildID identifies the daemon binary a hub runs from: the version plus the size and
// modification time of mcpctld. The CLI and the daemon compute it from the same file, so a
// CLI whose daemon binary was rebuilt or reinstalled replaces a hub still running the old one.
// It is cheap to compute on every call (a stat).
func buildID(f *Factory) string {
	exe, err := hubclient.DaemonExecutable(f.Executable)
	if err != nil {
		return Version
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return Version
	}
	return fmt.Sprintf("%s+%s.%s", Version, strconv.FormatInt(fi.Size(), 36), strconv.FormatInt(fi.ModTime().UnixNano(), 36))
}
