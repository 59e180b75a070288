package shell

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/reeflective/readline"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/mcpctl/mcpctl/events"
)

// Exec runs one line's words through mcpctl's command tree, as `mcpctl WORDS…` would,
// on the given streams, and returns the exit code.
type Exec func(ctx context.Context, args []string, io *cmdkit.IOStreams) int

type ShellOptions struct {
	F       *cmdkit.Factory
	Session string
	Exec    Exec
	// Commands are the names a line may start with; SessionCommands those that take the
	// preset session.
	Commands        []string
	SessionCommands map[string]bool
}

func NewCmdShell(f *cmdkit.Factory, exec Exec, runF func(context.Context, *ShellOptions) error) *cobra.Command {
	o := &ShellOptions{F: f, Exec: exec}
	cmd := &cobra.Command{
		Use:   "shell @session",
		Short: "An interactive prompt on a session: line editing, history, completion, its events as they happen",
		Long: `shell reads commands for one session, with line editing, a history kept in
$MCPCTL_HOME/shell_history (0600; lines with -H or an authorization header are not kept),
and completion (Tab) of commands, tool and prompt names and their k:= arguments.
A line is split as a shell would split it (quotes, backslashes) and runs as
'mcpctl @session WORDS…' would: 'tools-call echo text:="hi there"'. A line that starts
with @other names another session; commands without a session (sessions, events, grep
PATTERN of one session…) run as they are. The session's events (restarts, bridges ready or
lost) are shown as they happen: under the line being typed, then above the next prompt. exit, quit or Ctrl-D leaves.
Without a terminal, lines are read from stdin one by one, without the prompt.`,
		Example: `  mcpctl @docs shell
  @docs> tools-call search query:=nats
  @docs> exit`,
		Annotations: map[string]string{cmdkit.AnnotationStopsOnSignal: "yes"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 || !strings.HasPrefix(args[0], "@") {
				return clierr.WithHint(errors.New("shell needs a session (@name)"), clierr.ExitUsage, "mcpctl @name shell")
			}
			if len(args) > 1 {
				return clierr.UsageErr("shell: unexpected argument %q", args[1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := sessioncall.ParseSessionArg(args[0])
			if err != nil {
				return err
			}
			o.Session = name
			o.Commands, o.SessionCommands = commandsOf(cmd.Root())
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunShell(cmd.Context(), o)
		},
	}
	return cmd
}

// commandsOf lists the commands a shell line may start with, and which of them take a
// session (their use line names one).
func commandsOf(root *cobra.Command) ([]string, map[string]bool) {
	names := []string{"exit", "quit"}
	session := map[string]bool{}
	for _, c := range root.Commands() {
		if c.Hidden || c.Name() == "shell" || c.Name() == "completion" {
			continue
		}
		names = append(names, c.Name())
		if strings.Contains(c.Use, "@") {
			session[c.Name()] = true
		}
	}
	sort.Strings(names)
	return names, session
}

func RunShell(ctx context.Context, o *ShellOptions) error {
	f := o.F
	a, s, err := sessioncall.Load(ctx, f, o.Session)
	if err != nil {
		return err
	}
	if s.Status == "" || s.Cleaned {
		return sessioncall.NotFoundErr(o.Session)
	}
	if !s.IsOpen() {
		return clierr.WithHint(&events.SessionError{Op: "shell", Session: o.Session, Err: events.ErrClosed}, clierr.ExitUsage,
			"open it again with: mcpctl connect <server> @"+o.Session)
	}
	home, err := f.Home()
	if err != nil {
		return err
	}
	hist, err := openHistory(HistoryFile(home.Dir))
	if err != nil {
		return fmt.Errorf("shell history: %w", err)
	}
	comp := &completer{commands: o.Commands, list: func(ctx context.Context, method, key string) ([]json.RawMessage, error) {
		res, err := sessioncall.ListAll(ctx, key, func(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
			res, _, err := sessioncall.CallSession(ctx, f, o.Session, method, params)
			return res, err
		})
		if err != nil {
			return nil, err
		}
		return listItems(res, method, key)
	}}

	// Lines run on a context that a Ctrl-C during a command does not end: that Ctrl-C is
	// the command's (its own Run cancels it), and the shell goes on. SIGTERM ends the shell.
	lineCtx := context.WithoutCancel(ctx)
	terminated := func() bool {
		var sig *cmdkit.SignalError
		return errors.As(context.Cause(ctx), &sig) && sig.Signal == syscall.SIGTERM
	}
	out := &printer{w: f.IO.ErrOut}

	// The line editor draws on the process's own stdout: both ends must be the terminal.
	interactive := f.IO.InTTY && isTTY(os.Stdout)
	if interactive {
		// The session's events, above the prompt, from the newest one on.
		wctx, stop := context.WithCancel(lineCtx)
		var wg sync.WaitGroup
		defer func() { stop(); wg.Wait() }()
		after, err := a.Hub.Log.LastSeq(ctx, a.Hub.Node, a.Name)
		if err != nil {
			return err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = a.Hub.Log.Follow(wctx, events.Query{Node: a.Hub.Node, Session: a.Name, AfterSeq: after}, func(e events.Event) error {
				if e.Type == events.KindBridgeReady {
					comp.forget()
				}
				out.event(eventLine(o.Session, e))
				return nil
			})
		}()
	}

	var next func() (string, error)
	if interactive {
		rl := readline.NewShell()
		rl.Prompt.Primary(func() string { return "@" + o.Session + "> " })
		rl.History.Add("mcpctl", hist)
		rl.Completer = func(line []rune, cursor int) readline.Completions {
			cands, space := comp.Complete(lineCtx, string(line[:min(cursor, len(line))]))
			if space { // readline inserts a unique candidate as it is: the blank is ours
				for i := range cands {
					cands[i] += " "
				}
			}
			return readline.CompleteValues(cands...)
		}
		out.rl = rl
		next = func() (string, error) {
			out.reading(true)
			defer out.reading(false)
			for {
				line, err := rl.Readline()
				if errors.Is(err, readline.ErrInterrupt) {
					continue // Ctrl-C at the prompt drops the line, as in a shell
				}
				return line, err
			}
		}
	} else {
		sc := bufio.NewScanner(f.IO.In)
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		next = func() (string, error) {
			if !sc.Scan() {
				if err := sc.Err(); err != nil {
					return "", err
				}
				return "", io.EOF
			}
			return sc.Text(), nil
		}
	}

	for {
		line, err := next()
		if errors.Is(err, io.EOF) {
			if interactive {
				fmt.Fprintln(f.IO.ErrOut)
			}
			return nil
		}
		if err != nil {
			return err
		}
		words, err := Split(line)
		if err != nil {
			out.line(fmt.Sprintf("shell: %v; nothing was sent", err))
			continue
		}
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "exit", "quit":
			return nil
		case "shell":
			out.line("shell: already in a shell on @" + o.Session)
			continue
		}
		args := words
		if !strings.HasPrefix(words[0], "@") && o.SessionCommands[words[0]] {
			args = append([]string{"@" + o.Session}, words...)
		}
		o.Exec(lineCtx, args, f.IO)
		if terminated() {
			return nil
		}
	}
}

func isTTY(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// printer writes the shell's own lines. While a command runs they go to stderr at once.
// While the prompt is read, the line editor owns the terminal: drawing over it from this
// goroutine would race with its render loop, so events go to its status lane under the
// input line (made to be written from any goroutine: it wakes the loop), shown at once,
// and are printed for good above the next prompt when the line is accepted.
type printer struct {
	mu      sync.Mutex
	w       io.Writer
	rl      *readline.Shell
	read    bool
	pending []string
}

// statusLines is how many of the newest events the status lane shows.
const statusLines = 5

func (p *printer) reading(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.read = on
	if on || p.rl == nil {
		return
	}
	if len(p.pending) > 0 {
		p.rl.Hint.ClearTransient()
		for _, l := range p.pending {
			fmt.Fprintln(p.w, l)
		}
		p.pending = nil
	}
}

func (p *printer) event(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.read && p.rl != nil {
		p.pending = append(p.pending, s)
		p.rl.Hint.SetTransient(strings.Join(p.pending[max(0, len(p.pending)-statusLines):], "\n"))
		return
	}
	fmt.Fprintln(p.w, s)
}

// line is a message of the shell's own, written between two prompts.
func (p *printer) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, s)
}

// eventLine is how an event of the session is shown: time, kind, generation, and what
// it says (a server's text is escaped, never sent raw to the terminal).
func eventLine(session string, e events.Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "· %s @%s %s", e.Time.Local().Format(time.TimeOnly), session, e.Type)
	if e.Generation > 0 {
		fmt.Fprintf(&b, " generation %d", e.Generation)
	}
	if e.PID > 0 {
		fmt.Fprintf(&b, " pid %d", e.PID)
	}
	if why := strings.TrimSpace(strings.Join([]string{e.Reason, e.Error}, " ")); why != "" {
		fmt.Fprintf(&b, ": %s", printable(why))
	}
	return b.String()
}

// printable escapes control characters.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// listItems is the array a list result holds under key. Only that member is decoded: a result
// has others (nextCursor, and on 2026-07-28 the cache hints and _meta, which are objects).
func listItems(res json.RawMessage, method, key string) ([]json.RawMessage, error) {
	var r map[string]json.RawMessage
	if err := json.Unmarshal(res, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	raw, ok := r[key]
	if !ok {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return items, nil
}
