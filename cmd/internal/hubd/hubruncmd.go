package hubd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
)

type hubRunOptions struct {
	f        *cmdkit.Factory
	lazySync bool
	idle     time.Duration
}

// NewCmdHub is the daemon's `hub` command: `mcpctld hub run` runs the hub in the foreground.
func NewCmdHub(f *cmdkit.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hub",
		Short: "The hub: the event store, the projector and the supervisor of bridges",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newCmdHubRun(f))
	return cmd
}

func newCmdHubRun(f *cmdkit.Factory) *cobra.Command {
	o := &hubRunOptions{f: f}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the hub in the foreground",
		Args:  cobra.NoArgs,
		// SIGTERM is how `hub stop` ends it: a clean stop exits 0.
		Annotations: map[string]string{cmdkit.AnnotationStopsOnSignal: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHubRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.lazySync, "lazy-sync", false, "let the OS flush the store (faster appends; an acknowledged event can be lost on power loss)")
	cmd.Flags().DurationVar(&o.idle, "idle", envDuration("MCPCTL_HUB_IDLE", DefaultIdle), "exit after this long with no live session and no client (0: never)")
	return cmd
}

func envDuration(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func runHubRun(ctx context.Context, o *hubRunOptions) error {
	f := o.f
	home, err := f.Home()
	if err != nil {
		return err
	}
	node, err := f.Node()
	if err != nil {
		return err
	}
	if err := home.Ensure(); err != nil {
		return err
	}
	token, err := jetstream.LoadOrCreateToken(home.TokenFile())
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(f.IO.ErrOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	h := &hub{
		home:   home,
		node:   node,
		token:  token,
		build:  f.Build(),
		exe:    f.Executable,
		lazy:   o.lazySync,
		idle:   o.idle,
		logger: logger,
		ready:  readyPipeFromEnv(),
	}
	defer h.ready.Close() // nil-safe; after the byte it is already closed
	if old, err := jetstream.ReadAddress(home.AddressFile()); err == nil {
		if u, err := url.Parse(old.URL); err == nil {
			h.preferPort, _ = strconv.Atoi(u.Port())
		}
	}
	if o, external, cerr := f.ClusterOptions(); cerr != nil {
		return cerr
	} else if external {
		h.external, h.externalEnv = true, f.ExternalEnv()
		err = h.runExternal(ctx, o)
	} else {
		err = h.run(ctx)
	}
	if errors.Is(err, events.ErrLocked) {
		return clierr.WithHint(fmt.Errorf("another hub owns the store of %s: %w", home.Dir, err), clierr.ExitNetwork,
			"mcpctl hub status (one hub per home; stop it with mcpctl hub stop)")
	}
	return err
}

// DefaultIdle is how long a hub with no live session and no client runs on.
const DefaultIdle = 10 * time.Minute
