package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// sessionCmd builds a command whose first argument is @session.
func sessionCmd(use, short string, nargs int, run func(ctx context.Context, name string, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || !strings.HasPrefix(args[0], "@") {
				return withHint(fmt.Errorf("%s needs a session (@name)", cmd.Name()), ExitUsage, "mcpctl @name "+cmd.Name())
			}
			if len(args)-1 > nargs {
				return usageErr("%s: unexpected argument %q", cmd.Name(), args[nargs+1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := parseSessionArg(args[0])
			if err != nil {
				return err
			}
			return run(cmd.Context(), name, args[1:])
		},
	}
}

// ---- info

type infoResult struct {
	Session    projector.Session `json:"session"`
	Initialize json.RawMessage   `json:"initialize"`
	Tools      []string          `json:"tools"`
}

func newCmdInfo(f *Factory) *cobra.Command {
	return sessionCmd("info @session", "Show a session: server, capabilities, tool names (also: mcpctl @session)", 0,
		func(ctx context.Context, name string, _ []string) error {
			ctx, cancel := commandContext(ctx, f)
			defer cancel()
			c, s, err := connectBridge(ctx, f, name, "info")
			if err != nil {
				return err
			}
			defer c.Close()
			ctx, ccancel := callContext(ctx, f, s, name)
			defer ccancel()
			init, err := c.Call(ctx, "initialize", mustJSON(map[string]any{"protocolVersion": firstNonEmpty(s.ProtocolVersion, "2025-11-25"),
				"capabilities": map[string]any{}, "clientInfo": map[string]string{"name": "mcpctl", "version": Version}}))
			if err != nil {
				return callFailed(ctx, f, s, name, "initialize", err)
			}
			r := infoResult{Session: s, Initialize: init, Tools: []string{}}
			var caps struct {
				Capabilities map[string]json.RawMessage `json:"capabilities"`
				Instructions string                     `json:"instructions"`
			}
			_ = json.Unmarshal(init, &caps)
			if _, ok := caps.Capabilities["tools"]; ok {
				res, err := c.Call(ctx, "tools/list", json.RawMessage("{}"))
				if err != nil {
					return callFailed(ctx, f, s, name, "tools/list", err)
				}
				var tl struct{ Tools []toolInfo }
				_ = json.Unmarshal(res, &tl)
				for _, t := range tl.Tools {
					r.Tools = append(r.Tools, t.Name)
				}
			}
			if f.JSON {
				return writeJSON(f.IO.Out, r)
			}
			w := f.IO.Out
			fmt.Fprintf(w, "session:   @%s (%s, generation %d, bridge pid %s)\n", name, s.Status, s.Generation, bridgePID(s))
			fmt.Fprintf(w, "server:    %s %s — %s\n", s.ServerName, s.ServerVersion, serverLabel(s.Server))
			fmt.Fprintf(w, "protocol:  %s\n", s.ProtocolVersion)
			var capNames []string
			for k := range caps.Capabilities {
				capNames = append(capNames, k)
			}
			fmt.Fprintf(w, "supports:  %s\n", strings.Join(sortedStrings(capNames), ", "))
			if len(r.Tools) > 0 {
				fmt.Fprintf(w, "tools:     %s\n", strings.Join(r.Tools, ", "))
			}
			if caps.Instructions != "" {
				fmt.Fprintf(w, "instructions:\n  %s\n", strings.ReplaceAll(strings.TrimSpace(caps.Instructions), "\n", "\n  "))
			}
			return nil
		})
}

func bridgePID(s projector.Session) string {
	if s.Bridge == nil {
		return "-"
	}
	return strconv.Itoa(s.Bridge.PID)
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// ---- restart

type restartResult struct {
	Session    string `json:"session"`
	Started    bool   `json:"started"` // false: joined a restart already under way
	Generation uint64 `json:"generation"`
	Status     string `json:"status"`
	PID        int    `json:"pid,omitempty"`
}

func newCmdRestart(f *Factory) *cobra.Command {
	return sessionCmd("restart @session", "Restart a session's bridge (parallel callers join one restart)", 0,
		func(ctx context.Context, name string, _ []string) error {
			since := launchedTogetherAt(invokedAt())
			ctx, cancel := commandContext(ctx, f)
			defer cancel()
			hub, err := f.Hub(ctx)
			if err != nil {
				return err
			}
			remote := remoteTarget(f, name)
			target := name // @name or @name@node: what the user wrote, for messages
			hub, name = hub.target(name)
			s, err := loadSession(ctx, hub, name)
			if err != nil {
				return err
			}
			if s.Status == "" || s.Cleaned {
				return notFoundErr(target)
			}
			s, started, err := requestRestartOpts(ctx, hub, s, projector.RestartOptions{
				Reason: "explicit: mcpctl restart", Since: since, Fresh: true})
			if err != nil {
				return retarget(err, name, target)
			}
			// Wait for the requested generation itself: the KV may still list the previous
			// one as ready, and its bridge answers until it notices it was superseded.
			if s, err = waitSettled(ctx, f, hub, s); err != nil {
				return err
			}
			var c *rpc.Client
			if remote {
				// Another node's bridge: its pid and socket are that machine's. Settled is
				// all this node can see.
				if s.Status != projector.StatusReady {
					return &Error{Code: ExitNetwork, Err: fmt.Errorf("@%s is %s after the restart: %s", target, s.Status, firstNonEmpty(s.Error, s.Reason))}
				}
			} else if s.Status == projector.StatusReady && s.Bridge != nil && proc.Alive(s.Bridge.PID, s.Bridge.PIDStartTime) {
				c, _ = rpc.Dial(ctx, s.Bridge.Socket)
			}
			if c == nil && !remote {
				if c, s, err = connectBridge(ctx, f, name, "restart"); err != nil {
					return err
				}
			}
			if c != nil {
				c.Close()
			}
			r := restartResult{Session: name, Started: started, Generation: s.Generation, Status: string(s.Status)}
			if s.Bridge != nil {
				r.PID = s.Bridge.PID
			}
			if f.JSON {
				return writeJSON(f.IO.Out, r)
			}
			verb := "joined the restart to"
			if started {
				verb = "restarted to"
			}
			fmt.Fprintf(f.IO.Out, "@%s %s generation %d (bridge pid %d)\n", target, verb, r.Generation, r.PID)
			return nil
		})
}

// ---- close

func newCmdClose(f *Factory) *cobra.Command {
	return sessionCmd("close @session", "Close a session: its bridge exits and its secrets are deleted", 0,
		func(ctx context.Context, name string, _ []string) error {
			ctx, cancel := commandContext(ctx, f)
			defer cancel()
			hub, err := f.Hub(ctx)
			if err != nil {
				return err
			}
			remote := remoteTarget(f, name)
			target := name // @name or @name@node: what the user wrote, for messages
			hub, name = hub.target(name)
			s, err := loadSession(ctx, hub, name)
			if err != nil {
				return err
			}
			s, closedNow, err := projector.RequestClose(ctx, hub.Log, s, "explicit: mcpctl close")
			if err != nil {
				return err
			}
			if s.Status == "" || (s.Cleaned && !closedNow) {
				return notFoundErr(target)
			}
			if !remote { // another node's secrets are on that machine
				removeSecrets(hub.Home, s.Server.Secrets)
			}
			if f.JSON {
				return writeJSON(f.IO.Out, map[string]any{"session": name, "closed": true, "already_closed": !closedNow})
			}
			if closedNow {
				fmt.Fprintf(f.IO.Out, "@%s closed\n", target)
			} else {
				fmt.Fprintf(f.IO.Out, "@%s was already closed\n", target)
			}
			return nil
		})
}

// ---- clean

type cleanOptions struct {
	f   *Factory
	all bool
}

func newCmdClean(f *Factory) *cobra.Command {
	o := &cleanOptions{f: f}
	cmd := &cobra.Command{
		Use:   "clean [--all]",
		Short: "Forget closed and dead sessions and remove their leftovers (never a live bridge's socket)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runClean(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.all, "all", false, "close every session first, then clean them all")
	return cmd
}

func runClean(ctx context.Context, o *cleanOptions) error {
	f := o.f
	ctx, cancel := commandContext(ctx, f)
	defer cancel()
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	p, err := projector.LoadAll(ctx, hub.Store, hub.Node)
	if err != nil {
		return err
	}
	var cleaned []string
	for _, s := range p.List(hub.Node) {
		s, err := projector.Refresh(ctx, hub.Log, s)
		if err != nil {
			return err
		}
		reason := "mcpctl clean"
		if o.all {
			reason = "mcpctl clean --all"
		}
		// Closed first when --all finds it open, then cleaned: one decision a round.
		for {
			var seq uint64
			s, seq, err = projector.Update(ctx, hub.Log, s, nil, func(s projector.Session) (*events.Event, error) {
				if s.Cleaned || (s.Status.Live() && !o.all) {
					return nil, nil
				}
				kind := events.KindCleaned
				if s.IsOpen() && o.all {
					kind = events.KindClosed
				}
				e := events.New(kind, hub.Node, s.Name, s.Generation)
				e.Reason = reason
				return &e, nil
			})
			if err != nil {
				return err
			}
			if seq == 0 {
				break
			}
			if s.Cleaned {
				cleaned = append(cleaned, s.Name)
				removeSecrets(hub.Home, s.Server.Secrets)
				break
			}
		}
	}
	// Bridges the log does not know (the store was lost under them): the KV may trail the
	// log, so each candidate is checked against the log itself before it is stopped.
	var orphans []orphan
	for _, o := range findOrphans(hub.Home, hub.Node, knownIn(p.List(hub.Node))) {
		s, err := projector.Refresh(ctx, hub.Log, projector.Session{Node: hub.Node, Name: o.Session})
		if err != nil {
			return err
		}
		if s.Status == "" || s.Generation < o.Generation {
			orphans = append(orphans, o)
		}
	}
	stopOrphans(ctx, hub.Home, orphans, slog.New(slog.DiscardHandler))
	removed := cleanSockets(hub.Home)
	if f.JSON {
		if cleaned == nil {
			cleaned = []string{}
		}
		stopped := make([]string, 0, len(orphans))
		for _, o := range orphans {
			stopped = append(stopped, o.Session)
		}
		return writeJSON(f.IO.Out, map[string]any{"cleaned": cleaned, "sockets_removed": removed, "orphans_stopped": stopped})
	}
	for _, n := range cleaned {
		fmt.Fprintf(f.IO.Out, "cleaned @%s\n", n)
	}
	if len(orphans) > 0 {
		fmt.Fprintf(f.IO.Out, "stopped bridges the log does not know: %s\n", orphanSummary(orphans))
	}
	if len(cleaned) == 0 && len(orphans) == 0 {
		fmt.Fprintln(f.IO.ErrOut, "nothing to clean")
	}
	return nil
}

// cleanSockets removes socket files whose bridge process is gone. A socket is named
// <session>.<pid>.sock; it is left alone while that pid is a running `mcpctl bridge` for
// that session, so clean never cuts off a live bridge (a reused pid of another program does
// not keep a dead bridge's socket either).
func cleanSockets(home Home) int {
	removed := 0
	for _, dir := range []string{home.BridgeDir(), rpc.FallbackDir()} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, e := range ents {
			name := e.Name()
			if !strings.HasSuffix(name, ".sock") {
				continue
			}
			base := strings.TrimSuffix(name, ".sock")
			i := strings.LastIndexByte(base, '.')
			if i <= 0 {
				continue
			}
			session := base[:i]
			pid, err := strconv.Atoi(base[i+1:])
			if err != nil {
				continue
			}
			if dir != home.BridgeDir() && !strings.HasSuffix(session, "") {
				continue
			}
			if isBridgeOf(pid, session) {
				continue
			}
			if os.Remove(filepath.Join(dir, name)) == nil {
				removed++
			}
		}
	}
	return removed
}

// isBridgeOf reports whether pid is a live (non-zombie) `mcpctl bridge --session session`.
func isBridgeOf(pid int, session string) bool {
	if _, err := proc.StartTime(pid); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	for i, a := range args {
		if a == "--session" && i+1 < len(args) && args[i+1] == session {
			return len(args) > 1 && args[1] == "bridge"
		}
	}
	return false
}

// ---- logs

func newCmdLogs(f *Factory) *cobra.Command {
	var follow bool
	var lines int
	cmd := sessionCmd("logs @session [-f]", "Print the session's log: its bridge and its stdio server's stderr", 0,
		func(ctx context.Context, name string, _ []string) error {
			if remoteTarget(f, name) {
				_, node := splitTarget(name)
				return withHint(fmt.Errorf("logs works on this node's sessions; @%s is another node's, and its log is on that machine", name),
					ExitUsage, "on node "+node+": mcpctl @"+strings.TrimSuffix(name, "@"+node)+" logs")
			}
			name, _ = splitTarget(name) // @name@<this node>
			home, err := f.Home()
			if err != nil {
				return err
			}
			path := home.SessionLog(name)
			if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
				if old := home.legacySessionLog(name); old != "" {
					if _, err := os.Stat(old); err == nil {
						path = old // a home of before, no bridge of this session ran since
					}
				}
			}
			return tailLog(ctx, f.IO.Out, path, lines, follow)
		})
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
			return withHint(fmt.Errorf("no log at %s yet", path), ExitUsage, "the log appears once a bridge has run")
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

// ---- wait

func newCmdWait(f *Factory) *cobra.Command {
	var forWhat string
	cmd := sessionCmd("wait @session --for ready|exited|<event kind>", "Wait until the session is ready, its bridge exited, or an event of a kind arrives", 0,
		func(ctx context.Context, name string, _ []string) error {
			ctx, cancel := commandContext(ctx, f)
			defer cancel()
			return runWait(ctx, f, name, forWhat)
		})
	cmd.Flags().StringVar(&forWhat, "for", "ready", "ready, exited, or an event kind ("+kindList()+")")
	return cmd
}

func runWait(ctx context.Context, f *Factory, name, forWhat string) error {
	if forWhat != "ready" && forWhat != "exited" && !events.Kind(forWhat).Known() {
		return withHint(fmt.Errorf("--for %q: not ready, exited, nor an event kind", forWhat), ExitUsage, "one of: ready, exited, "+kindList())
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	target := name // @name or @name@node: what the user wrote, for messages
	remote := remoteTarget(f, name)
	hub, name = hub.target(name)
	s, err := loadSession(ctx, hub, name)
	if err != nil {
		return err
	}
	if s.Status == "" {
		return notFoundErr(target)
	}
	if forWhat == "ready" && remote {
		// Another node's bridge: settled and ready in the log is all this node can see.
		if s, err = waitSettled(ctx, f, hub, s); err != nil {
			return err
		}
		if s.Status != projector.StatusReady {
			return &Error{Code: ExitNetwork, Err: fmt.Errorf("@%s is %s: %s", target, s.Status, firstNonEmpty(s.Error, s.Reason))}
		}
		return printWaited(f, target, forWhat, s, nil)
	}
	if forWhat == "ready" {
		c, s, err := connectBridge(ctx, f, name, "wait")
		if err != nil {
			return err
		}
		c.Close()
		return printWaited(f, target, forWhat, s, nil)
	}
	kind := events.Kind(forWhat)
	if forWhat == "exited" {
		kind = events.KindBridgeExited
		if s.Bridge == nil && !s.Status.Live() {
			return printWaited(f, target, forWhat, s, nil)
		}
	}
	var got *events.Event
	err = hub.Log.Follow(ctx, events.Query{Node: hub.Node, Session: name, AfterSeq: s.LastSeq}, func(e events.Event) error {
		s = projector.Apply(s, e)
		if e.Type == kind && (forWhat != "exited" || e.Generation >= s.Generation || s.Bridge == nil) {
			got = &e
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) {
		return printWaited(f, target, forWhat, s, got)
	}
	if ctx.Err() != nil {
		return timeoutErr(ctx, "waiting for "+forWhat+" on @"+target)
	}
	return err
}

var errDone = errors.New("done")

func printWaited(f *Factory, name, what string, s projector.Session, e *events.Event) error {
	if f.JSON {
		return writeJSON(f.IO.Out, map[string]any{"session": name, "for": what, "state": s, "event": e})
	}
	if e != nil {
		fmt.Fprintf(f.IO.Out, "@%s: %s (seq %d, generation %d)\n", name, e.Type, e.Seq, e.Generation)
		return nil
	}
	fmt.Fprintf(f.IO.Out, "@%s: %s (generation %d)\n", name, s.Status, s.Generation)
	return nil
}

// ---- proxy

func newCmdProxy(f *Factory) *cobra.Command {
	return sessionCmd("proxy @session", "Serve the session as a stdio MCP server, so any MCP host can share it", 0,
		func(ctx context.Context, name string, _ []string) error {
			c, s, err := connectBridge(ctx, f, name, "proxy")
			if err != nil {
				return err
			}
			c.Close()
			// The bridge speaks newline-delimited MCP on its socket, as a stdio server does:
			// the proxy only copies bytes both ways.
			var d net.Dialer
			conn, err := d.DialContext(ctx, "unix", rpc.SocketPath(s.Bridge.Socket))
			if err != nil {
				return &Error{Code: ExitNetwork, Err: fmt.Errorf("proxy @%s: %w", name, err)}
			}
			defer conn.Close()
			fail := func(err error) error {
				return &Error{Code: ExitNetwork, Err: fmt.Errorf("proxy @%s: %w", name, err)}
			}
			inDone, outDone := make(chan error, 1), make(chan error, 1)
			go func() { // stdin → bridge; stays blocked on a read of stdin if the bridge ends first
				_, err := io.Copy(conn, f.IO.In)
				if uc, ok := conn.(*net.UnixConn); ok {
					_ = uc.CloseWrite()
				}
				inDone <- err
			}()
			go func() { // bridge → stdout: ends when the bridge closes the connection
				_, err := io.Copy(f.IO.Out, conn)
				outDone <- err
			}()
			select {
			case <-ctx.Done():
				return nil
			case err := <-outDone: // the bridge went away (or stdout failed): nothing more will come
				if err != nil {
					return fail(err)
				}
				return nil
			case err := <-inDone:
				if err != nil {
					return fail(err)
				}
			}
			// stdin ended and the bridge saw EOF: it answers every request it read, then
			// closes. Wait for that, however long a tool takes, so no answer is lost.
			select {
			case <-ctx.Done():
				return nil
			case err := <-outDone:
				if err != nil {
					return fail(err)
				}
				return nil
			}
		})
}
