package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/client/transport"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// StdioOptions describe a stdio MCP server the bridge starts itself.
type StdioOptions struct {
	Command string
	Args    []string
	Dir     string
	// BaseEnv is the environment (NAME=value) the server starts from: the connecting CLI's,
	// without mcpctl's variables. Env values are added to it and win. The bridge's own
	// environment never reaches the server; with a nil BaseEnv (a session recorded before
	// the environment was captured) the bridge's, minus MCPCTL_*, is used instead. A command
	// without a slash is looked up in BaseEnv's PATH.
	BaseEnv []string
	Env     map[string]string
	// Stderr receives the server's stderr (the session log). Nil discards it.
	Stderr io.Writer
	// Protocol is the revision to start with (default DefaultStdioProtocol): 2026-07-28 or
	// later is probed with server/discover, falling back to initialize; an older one goes
	// straight to initialize.
	Protocol string
	// DiscoverTimeout bounds the server/discover probe (0: DefaultStdioDiscoverTimeout,
	// <0: unbounded).
	DiscoverTimeout time.Duration
	ClientInfo      ClientInfo
	Logger          *slog.Logger
	// AnswerInput answers the input requests of 2026-07-28 input_required rounds (nil:
	// elicitations are declined, other asks fail the call).
	AnswerInput AnswerInputFunc
	// StopGrace is how long Close waits after closing the server's stdin, and again after
	// SIGTERM, before it escalates (default 2 s each).
	StopGrace time.Duration
}

// DefaultStopGrace is the default StdioOptions.StopGrace.
const DefaultStopGrace = 2 * time.Second

// stdioProc is the server process the bridge started.
type stdioProc struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed once cmd.Wait returned
	waitErr error         // set before exited is closed
	stdin   *os.File      // our end of the server's stdin
	stdout  *os.File      // our end of the server's stdout
}

// StartStdio starts the server in its own process group and connects to it over its pipes.
// The process is watched with cmd.Wait, so Done closes as soon as the server exits (mcp-go's
// own stdio transport does not report an exit).
func StartStdio(ctx context.Context, opts StdioOptions) (Upstream, error) {
	if opts.Command == "" {
		return nil, errors.New("stdio: no command")
	}
	if opts.Protocol == "" {
		opts.Protocol = DefaultStdioProtocol
	}
	if opts.DiscoverTimeout == 0 {
		opts.DiscoverTimeout = DefaultStdioDiscoverTimeout
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = DefaultStopGrace
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	// Our own pipes, all *os.File: exec then starts no copying goroutines, and cmd.Wait
	// returns when the server exits even if a grandchild still holds a pipe open.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("stdio: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return nil, fmt.Errorf("stdio: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return nil, fmt.Errorf("stdio: %w", err)
	}

	env := ServerEnv(opts.BaseEnv, opts.Env)
	path, err := lookPathIn(opts.Command, env, opts.Dir)
	if err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("stdio: start %s: %w", opts.Command, err)
	}
	cmd := exec.Command(path, opts.Args...)
	cmd.Args[0] = opts.Command
	cmd.Dir = opts.Dir
	cmd.Env = env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	// A group of its own: npx/uvx grandchildren are signalled with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return nil, fmt.Errorf("stdio: start %s: %w", opts.Command, err)
	}
	closeAll(inR, outW, errW) // the child holds its ends now

	stderr := opts.Stderr
	if stderr == nil {
		stderr = io.Discard
	}
	go func() {
		// Drain always, so a chatty server never blocks on a full pipe.
		_, _ = io.Copy(stderr, errR)
		_ = errR.Close()
	}()

	p := &stdioProc{cmd: cmd, exited: make(chan struct{}), stdin: inW, stdout: outR}
	raw := &rawAsks{}
	tr := transport.NewIO(&lineTee{r: outR, note: raw.note}, inW, nil)
	u := newRawUpstream(tr, opts.Protocol, opts.ClientInfo, opts.Logger)
	u.raw = raw
	u.discoverTimeout = opts.DiscoverTimeout
	u.answer = opts.AnswerInput
	u.closeFn = func(ctx context.Context, _ CloseOptions) error { return p.stop(ctx, tr, opts.StopGrace) }

	go func() {
		err := cmd.Wait()
		p.waitErr = err
		close(p.exited)
		// Whatever the server left behind in its group goes with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		status := "exited"
		if err != nil {
			status = err.Error()
		}
		u.lose(fmt.Errorf("%w: %s (pid %d): %s", rpc.ErrServerLost, opts.Command, cmd.Process.Pid, status))
	}()

	lifetime, stop := context.WithCancel(context.Background())
	u.stop = stop
	if err := tr.Start(lifetime); err != nil {
		_ = u.Close(ctx, CloseOptions{})
		return nil, fmt.Errorf("stdio: %w", err)
	}
	return u, nil
}

// stop closes the server's stdin, then signals its group: SIGTERM after grace, SIGKILL
// after another grace (or at once when ctx ends).
func (p *stdioProc) stop(ctx context.Context, tr *transport.Stdio, grace time.Duration) error {
	_ = tr.Close() // closes our end of stdin: a well-behaved server exits on EOF
	pgid := p.cmd.Process.Pid
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-p.exited:
			return true
		case <-t.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	var err error
	if !wait(grace) {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		if !wait(grace) {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-p.exited
			err = errors.New("stdio: server killed after SIGTERM was ignored")
		}
	}
	_ = p.stdout.Close() // unblocks mcp-go's reader if a grandchild kept stdout open
	return err
}

// ServerEnv is a stdio server's environment: base (nil: the bridge's own) without
// mcpctl's variables, then env on top, sorted by name.
func ServerEnv(base []string, env map[string]string) []string {
	if base == nil {
		base = os.Environ()
	}
	m := map[string]string{}
	for _, kv := range base {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.HasPrefix(k, "MCPCTL_") {
			continue
		}
		m[k] = v
	}
	for k, v := range env {
		m[k] = v
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}

// lookPathIn finds a command the way the server's own shell would: a name with a slash is
// used as it is (relative to dir), anything else is searched in env's PATH, not the bridge's.
func lookPathIn(file string, env []string, dir string) (string, error) {
	if strings.Contains(file, "/") {
		return file, nil
	}
	pathVar := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			pathVar = v
		}
	}
	for _, d := range filepath.SplitList(pathVar) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if !filepath.IsAbs(p) && dir != "" {
			p = filepath.Join(dir, p)
		}
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w: %q not found in the PATH the server gets", exec.ErrNotFound, file)
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		_ = f.Close()
	}
}
