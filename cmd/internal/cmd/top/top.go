// Package top is `mcpctl top`: a live, full-screen view of the sessions, drawn from the
// event stream as it arrives, with keys to restart, close and read a session's log.
//
// It draws with a few ANSI sequences of its own over raw mode (golang.org/x/sys, already
// linked) rather than a TUI library: mcpctl must start like hello world on every call, and
// top needs a table, a pane and a footer, not widgets.
package top

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// logTailLines is how much of a session's log the pane keeps.
const logTailLines = 200

type TopOptions struct {
	F        *cmdkit.Factory
	Node     string
	AllNodes bool
}

func NewCmdTop(f *cmdkit.Factory, runF func(context.Context, *TopOptions) error) *cobra.Command {
	o := &TopOptions{F: f}
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Watch the sessions live: status, restarts, crashes; r restart, c close, l log",
		Long: `A full-screen view of the sessions, updated as their events arrive: node, status,
generation, bridge pid, uptime, restarts and crashes in the last hour, and the last event.
Select a session (↑↓ or j/k) to see its recent events, l for its log; r restarts it and
c closes it, after y to confirm, exactly as mcpctl restart and close do; q quits.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Node != "" && o.AllNodes {
				return clierr.UsageErr("top: --node and --all-nodes cannot be used together")
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunTop(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Node, "node", "", "show this node's sessions (default: this machine's)")
	cmd.Flags().BoolVar(&o.AllNodes, "all-nodes", false, "show the sessions of every node in the log")
	return cmd
}

// errNotTerminal: top draws a screen; a pipe or a file gets a plain message.
var errNotTerminal = errors.New("top: needs a terminal: standard input or output is not one")

func RunTop(ctx context.Context, o *TopOptions) error {
	f := o.F
	if o.Node != "" {
		if err := events.ValidateNode(o.Node); err != nil {
			return &clierr.Error{Code: clierr.ExitUsage, Err: fmt.Errorf("top --node: %w", err)}
		}
	}
	in, out := os.Stdin, cmdkit.OutFile(f.IO)
	if out == nil || !isTerminal(out) || !isTerminal(in) {
		return clierr.WithHint(errNotTerminal, clierr.ExitUsage, "for a stream of what happens: mcpctl events -f")
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	node := hub.Node
	if o.Node != "" {
		node = o.Node
	}
	if o.AllNodes {
		node = ""
	}
	p, err := projector.LoadAll(ctx, hub.Store, node)
	if err != nil {
		return err
	}
	b := newBoard()
	b.load(p.List(node))

	// The stream followers and the actions in flight end with ctx; top returns once they
	// have (the key reader excepted, see below).
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The stream: the last hour (restarts and crashes are counted over it), then whatever
	// comes. Follow ends only with ctx or an error of the hub's.
	evCh, followErr := make(chan events.Event, 256), make(chan error, 1)
	// A panic in a goroutine of top's comes to the main loop, which puts the terminal back
	// before it panics with it: a crash must not leave the user's terminal in raw mode.
	crashed := make(chan string, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer guard(crashed)
		q := events.Query{Node: node, Since: time.Now().Add(-window)}
		followErr <- hub.Log.Follow(ctx, q, func(e events.Event) error {
			select {
			case evCh <- e:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	// The bridges' call figures, from the notifications stream: the last two periods, then
	// as they come. Losing them is not fatal: the rows still come from the log.
	notes := make(chan jetstream.Notification, 64)
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer guard(crashed)
		q := jetstream.NotifyQuery{Node: node, Since: time.Now().Add(-2 * time.Minute)}
		_ = hub.Notes.FollowNotifications(ctx, q, func(n jetstream.Notification) error {
			if n.Method != events.CallStatsMethod {
				return nil
			}
			select {
			case notes <- n:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		})
	}()

	scr, err := openScreen(in, out)
	if err != nil {
		return err
	}
	defer scr.restore()
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, unix.SIGWINCH)
	defer signal.Stop(winch)
	keyCh := make(chan string, 16)
	// The reader stays blocked in read(2) until the next key or the process's end: a
	// terminal read cannot be interrupted portably, and top is the process's last act.
	go func() {
		defer guard(crashed)
		keys(in, keyCh, ctx.Done())
	}()
	done := make(chan string, 4)
	tick := time.NewTicker(time.Second) // uptimes and the clock; the data comes from events
	defer tick.Stop()

	label := node
	if label == "" {
		label = "all nodes"
	}
	w, h := scr.size()
	redraw := func() error {
		if r := b.current(); r != nil && b.showLog {
			r.logTail = readTail(hub.Home, r.s, hub.Node)
		}
		return scr.draw(b.render(w, h, label, time.Now(), os.Getenv("NO_COLOR") == ""))
	}
	for {
		if err := redraw(); err != nil {
			return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("top: %w", err)}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-followErr:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			scr.restore()
			return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("top: lost the hub: %w", err)}
		case e := <-evCh:
			b.apply(e, time.Now())
			// Fold everything already waiting before drawing: a burst is one frame.
			for drained := false; !drained; {
				select {
				case e := <-evCh:
					b.apply(e, time.Now())
				default:
					drained = true
				}
			}
		case p := <-crashed:
			scr.restore()
			panic(p)
		case n := <-notes:
			b.callStats(n.Node, n.Session, n.Params)
		case <-winch:
			w, h = scr.size()
		case <-tick.C:
		case msg := <-done:
			b.message = msg
		case k := <-keyCh:
			act, quit := b.key(k)
			if quit {
				return nil
			}
			if act != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer guard(crashed)
					msg := carryOut(ctx, f, hub, *act)
					select {
					case done <- msg:
					case <-ctx.Done(): // top has ended
					}
				}()
			}
		}
	}
}

// carryOut does what the key asked, through the path the CLI's restart and close take,
// and says how it went.
func carryOut(ctx context.Context, f *cmdkit.Factory, hub *hubclient.HubConn, a action) string {
	ctx, cancel := cmdkit.CommandContext(ctx, f)
	defer cancel()
	target := a.Session
	if a.Node != hub.Node {
		target += "@" + a.Node
	}
	h, name := hub.Target(target)
	s, err := sessioncall.LoadSession(ctx, h, name)
	if err != nil {
		return safe(fmt.Sprintf("%s @%s: %v", verb(a.Kind), target, err))
	}
	switch a.Kind {
	case 'r':
		// No Since: top runs for long, and a generation that became ready after it started
		// is no answer to a restart asked for now. Pending restarts are still joined.
		s, started, err := sessioncall.RequestRestartOpts(ctx, h, s, projector.RestartOptions{Reason: "explicit: mcpctl top", Fresh: true})
		if err != nil {
			return safe(fmt.Sprintf("restart @%s: %v", target, err))
		}
		if !started {
			return safe(fmt.Sprintf("@%s joined the restart to generation %d", target, s.Generation))
		}
		return safe(fmt.Sprintf("@%s restart to generation %d requested", target, s.Generation))
	default:
		s, closedNow, err := projector.RequestClose(ctx, h.Log, s, "explicit: mcpctl top")
		if err != nil {
			return safe(fmt.Sprintf("close @%s: %v", target, err))
		}
		if !closedNow {
			return safe(fmt.Sprintf("@%s was already closed", target))
		}
		if a.Node == hub.Node { // another node's secrets are on that machine
			homedir.RemoveSecrets(hub.Home, s.Server.Secrets)
		}
		return safe(fmt.Sprintf("@%s closed", target))
	}
}

// readTail is the end of a session's log on this machine (another node's log is there).
func readTail(home homedir.Home, s projector.Session, local string) []string {
	if s.Node != local {
		return []string{"(the log of another node's session is on that node)"}
	}
	fh, err := os.Open(home.SessionLog(s.Name))
	if err != nil {
		return []string{"(no log: " + err.Error() + ")"}
	}
	defer fh.Close()
	if fi, err := fh.Stat(); err == nil && fi.Size() > 256<<10 {
		fh.Seek(fi.Size()-256<<10, 0)
	}
	var lines []string
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > 2*logTailLines {
			lines = append(lines[:0], lines[len(lines)-logTailLines:]...)
		}
	}
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return lines
}

// guard, deferred first thing in a goroutine of top's, hands a panic (with its stack) to
// the main loop instead of ending the process with the terminal still in raw mode.
func guard(crashed chan<- string) {
	if r := recover(); r != nil {
		select {
		case crashed <- fmt.Sprintf("top: %v\n%s", r, debug.Stack()):
		default: // one is enough: the main loop ends with it
		}
	}
}
