package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/logtail"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"
)

func NewCmdLogs(f *cmdkit.Factory) *cobra.Command {
	var follow bool
	var lines int
	cmd := sessionCmd("logs @session [-f]", "Print the session's log: its bridge and its stdio server's stderr", 0,
		func(ctx context.Context, name string, _ []string) (err error) {
			var out io.Writer = f.IO.Out
			if f.JSON {
				// JSON Lines, one object a log line: a log is a stream, not one document.
				jw := &jsonLinesWriter{w: f.IO.Out, session: name}
				defer func() {
					if err == nil {
						err = jw.Close()
					}
				}()
				out = jw
			}
			if sessioncall.RemoteTarget(f, name) {
				return sessioncall.RemoteLogs(ctx, f, name, lines, follow, out)
			}
			name, _ = hubclient.SplitTarget(name) // @name@<this node>
			home, err := f.Home()
			if err != nil {
				return err
			}
			path := home.SessionLog(name)
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				if old := home.LegacySessionLog(name); old != "" {
					if _, err := os.Stat(old); err == nil {
						path = old // a home of before, no bridge of this session ran since
					}
				}
			}
			return tailLog(ctx, out, path, lines, follow)
		})
	cmd.Long = "Print the session's log: its bridge and its stdio server's stderr. With --json, JSON Lines:\none object a line, {\"session\", \"time\", \"level\", \"line\"} (a server's stderr line has no time or level)."
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the log grows")
	cmd.Flags().IntVarP(&lines, "lines", "n", 50, "print the last N lines first (0: all)")
	return cmd
}

// tailLog prints the log at path: the last n lines (0: all), then, with follow, what is
// appended until ctx ends.
func tailLog(ctx context.Context, w io.Writer, path string, n int, follow bool) error {
	err := logtail.Tail(ctx, path, n, follow, logtail.WriterSink{W: w})
	if errors.Is(err, logtail.ErrNoLog) {
		return clierr.WithHint(fmt.Errorf("no log at %s yet", path), clierr.ExitUsage, "the log appears once a bridge has run")
	}
	return err
}
