package session

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"
)

func NewCmdLogs(f *cmdkit.Factory) *cobra.Command {
	var follow bool
	var lines int
	cmd := sessionCmd("logs @session [-f]", "Print the session's log: its bridge and its stdio server's stderr", 0,
		func(ctx context.Context, name string, _ []string) error {
			if sessioncall.RemoteTarget(f, name) {
				_, node := hubclient.SplitTarget(name)
				return clierr.WithHint(fmt.Errorf("logs works on this node's sessions; @%s is another node's, and its log is on that machine", name),
					clierr.ExitUsage, "on node "+node+": mcpctl @"+strings.TrimSuffix(name, "@"+node)+" logs")
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
			if f.JSON {
				// JSON Lines, one object a log line: a log is a stream, not one document.
				jw := &jsonLinesWriter{w: f.IO.Out, session: name}
				if err := tailLog(ctx, jw, path, lines, follow); err != nil {
					return err
				}
				return jw.Close()
			}
			return tailLog(ctx, f.IO.Out, path, lines, follow)
		})
	cmd.Long = "Print the session's log: its bridge and its stdio server's stderr. With --json, JSON Lines:\none object a line, {\"session\", \"time\", \"level\", \"line\"} (a server's stderr line has no time or level)."
	cmd.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing as the log grows")
	cmd.Flags().IntVarP(&lines, "lines", "n", 50, "print the last N lines first (0: all)")
	return cmd
}

// rotated reports whether path no longer names the file fh reads.
func rotated(fh *os.File, path string) bool {
	cur, err1 := fh.Stat()
	now, err2 := os.Stat(path)
	return err1 == nil && err2 == nil && !os.SameFile(cur, now)
}

func tailLog(ctx context.Context, w io.Writer, path string, n int, follow bool) error {
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return clierr.WithHint(fmt.Errorf("no log at %s yet", path), clierr.ExitUsage, "the log appears once a bridge has run")
		}
		return err
	}
	defer func() { fh.Close() }() // fh changes when the log is rotated
	b, err := io.ReadAll(fh)
	if err != nil {
		return err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for _, l := range lines {
		if _, err := io.WriteString(w, l); err != nil {
			return err
		}
	}
	if !follow {
		return nil
	}
	r := bufio.NewReader(fh)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if _, err := io.WriteString(w, line); err != nil {
				return err
			}
		}
		if err == io.EOF {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
			// The bridge rotates the log at MaxSessionLog: once this file is fully read and
			// the path names another one, go on with that from its start.
			if rotated(fh, path) {
				next, err := os.Open(path)
				if err != nil {
					continue // between the rename and the new file: try again
				}
				// What reached the old file before the rename comes first.
				if _, err := io.Copy(w, r); err != nil {
					next.Close()
					return err
				}
				fh.Close()
				fh = next
				r.Reset(fh)
			}
			continue
		}
		if err != nil {
			return err
		}
	}
}
