// Package bridgeproc is the bridge process: it holds one session generation's MCP
// connection (package bridge), records bridge_ready and losses in the event log, follows the
// session to exit when superseded or closed, publishes server notifications, and answers
// remote calls. It runs as a binary of its own, mcpctl-bridge, so that the mcpctl binary
// links no MCP client library and starts quickly.
package bridgeproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge"
	"github.com/mcpctl/mcpctl/cmd/cli"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// Bridge exit codes: the supervisor's restart policy reads them.
const (
	bridgeExitStopped      = 0 // superseded, closed, or told to stop
	bridgeExitLost         = 3 // the server is gone
	bridgeExitUnauthorized = 4
	bridgeExitExpired      = 5
)

type bridgeOptions struct {
	f          *cli.Factory
	session    string
	generation uint64
}

// NewCmd is the hidden `bridge` command of the mcpctl-bridge binary: the hub starts one per
// session generation.
func NewCmd(f *cli.Factory) *cobra.Command {
	o := &bridgeOptions{f: f}
	cmd := &cobra.Command{
		Use:    "bridge",
		Short:  "Hold one session generation's MCP connection (started by the hub)",
		Hidden: true,
		Args:   cobra.NoArgs,
		// The supervisor reads the exit code: a bridge stopped by a signal exits 0.
		Annotations: map[string]string{cli.AnnotationStopsOnSignal: "true"},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBridge(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.session, "session", "", "session name")
	cmd.Flags().Uint64Var(&o.generation, "generation", 0, "generation to serve")
	return cmd
}

func runBridge(ctx context.Context, o *bridgeOptions) error {
	f := o.f
	if err := events.ValidateSession(o.session); err != nil {
		return err
	}
	if o.generation == 0 {
		return &cli.Error{Code: cli.ExitUsage, Err: errors.New("--generation is required")}
	}
	home, err := f.Home()
	if err != nil {
		return err
	}
	node, err := f.Node()
	if err != nil {
		return err
	}
	// The hub starts a bridge with its stderr on the session log; the bridge rotates it
	// while it runs, so that a chatty server cannot grow it without bound.
	logw := f.IO.ErrOut
	if rl, ok := openRotatingLog(home.SessionLog(o.session), cli.MaxSessionLog, int(os.Stderr.Fd())); ok {
		defer rl.Close()
		logw = rl
	}
	logger := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo})).
		With("bridge", o.session, "generation", o.generation, "pid", os.Getpid())
	log, store, closeConn, err := cli.DialBridgeConn(ctx, f, home)
	if err != nil {
		return err
	}
	defer closeConn()
	br := &bridgeRun{log: log, node: node, name: o.session, gen: o.generation, logger: logger, pid: os.Getpid()}
	s, err := br.current(ctx, store)
	if err != nil {
		return err
	}
	if !br.mine(s) {
		logger.Info("superseded before start", "session_generation", s.Generation, "status", s.Status)
		return nil
	}
	sec, err := cli.ReadSecrets(home, s.Server.Secrets)
	if err != nil {
		br.lost(ctx, s, events.KindServerLost, err)
		return &cli.Error{Code: bridgeExitLost, Err: err}
	}
	notes := newNotifyPublisher(log, node, o.session, logger)
	defer notes.Close()
	cfg := bridge.Config{
		Session:        o.session,
		Server:         s.Server,
		Headers:        sec.Headers,
		Env:            sec.Env,
		SocketPath:     cli.BridgeSocketPath(home, o.session, os.Getpid()),
		Stderr:         logw,
		Logger:         logger,
		ClientInfo:     bridge.ClientInfo{Name: "mcpctl", Version: cli.Version},
		OnNotification: notes.Publish,
	}
	// After a crash (policy or implicit restart) a Streamable HTTP session is resumed with
	// the initialize result its previous bridge cached; an explicit restart starts afresh.
	resumed := false
	if s.Server.Transport == events.TransportHTTP && !s.Fresh && s.MCPSessionID != "" {
		if init, err := readInitCache(home, o.session, s.MCPSessionID); err == nil {
			cfg.ResumeSessionID, cfg.ResumeInitialize = s.MCPSessionID, init
			resumed = true
		}
	}
	b := bridge.New(cfg)
	openCtx, cancel := context.WithTimeout(ctx, bridgeOpenTimeout)
	err = b.Open(openCtx)
	if err != nil && resumed {
		logger.Info("resuming the MCP session failed; starting a new one", "mcp_session", cfg.ResumeSessionID, "err", err)
		_ = b.Close(context.Background())
		cfg.ResumeSessionID, cfg.ResumeInitialize = "", nil
		b = bridge.New(cfg)
		err = b.Open(openCtx)
	}
	cancel()
	if err != nil {
		kind, code := classifyLoss(err)
		s, _ = projector.Refresh(ctx, log, s)
		br.lost(ctx, s, kind, err)
		_ = b.Close(context.Background())
		return &cli.Error{Code: code, Err: fmt.Errorf("open: %w", err)}
	}
	defer b.Close(context.Background())
	if id := b.MCPSessionID(); id != "" {
		if err := writeInitCache(home, o.session, id, b.InitializeResult()); err != nil {
			logger.Warn("cache initialize result", "err", err)
		}
	}

	// Remote calls are answered from before ready is announced: a caller that sees ready
	// finds the subscription.
	if s.Server.Remote {
		stopRemote, err := serveRemote(log.Conn(), node, o.session, b.SocketPath(), logger)
		if err != nil {
			logger.Warn("remote calls unavailable", "err", err)
		} else {
			defer stopRemote()
		}
	}

	ready := events.New(events.KindBridgeReady, node, o.session, o.generation)
	ready.PID = os.Getpid()
	ready.Socket = b.SocketPath()
	ready.ServerName, ready.ServerVersion = b.ServerName(), b.ServerVersion()
	ready.ProtocolVersion, ready.MCPSessionID = b.ProtocolVersion(), b.MCPSessionID()
	s, ok, err := br.appendWhile(ctx, s, ready, br.mine)
	if err != nil {
		return err
	}
	if !ok {
		logger.Info("superseded during start")
		return nil
	}
	logger.Info("ready", "socket", b.SocketPath(), "server", b.ServerName(), "protocol", b.ProtocolVersion())

	// Watch the session: a newer generation or a close ends this bridge.
	watchCtx, stopWatch := context.WithCancelCause(ctx)
	defer stopWatch(nil)
	go br.watch(watchCtx, s, stopWatch)

	select {
	case <-watchCtx.Done():
		why := context.Cause(watchCtx)
		if errors.Is(why, errSuperseded) || errors.Is(why, errClosedSession) || ctx.Err() != nil {
			if ctx.Err() != nil {
				why = errors.New("signal")
			}
			st := events.New(events.KindBridgeStopping, node, o.session, o.generation)
			st.Reason = why.Error()
			st.PID = os.Getpid()
			actx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, _ = log.Append(actx, st, events.Unconditional())
			cancel()
			// A close, or an explicit restart, ends the server's MCP session (HTTP DELETE);
			// a restart after a crash leaves it for the next bridge to resume.
			end := errors.Is(why, errClosedSession) || (errors.Is(why, errSuperseded) && br.freshNext)
			_ = b.CloseWith(context.Background(), bridge.CloseOptions{EndSession: end})
			logger.Info("stopping", "why", why)
			return nil
		}
		return why
	case <-b.Done():
		err := b.Err()
		kind, code := classifyLoss(err)
		cur, _ := projector.Refresh(context.Background(), log, s)
		br.lost(context.Background(), cur, kind, err)
		logger.Warn("server lost", "err", err)
		return &cli.Error{Code: code, Err: err}
	}
}

const bridgeOpenTimeout = 60 * time.Second

var (
	errSuperseded    = errors.New("superseded by a newer generation")
	errClosedSession = errors.New("session closed")
)

func classifyLoss(err error) (events.Kind, int) {
	switch {
	case errors.Is(err, bridge.ErrExpired):
		return events.KindExpired, bridgeExitExpired
	case errors.Is(err, bridge.ErrUnauthorized):
		return events.KindUnauthorized, bridgeExitUnauthorized
	}
	return events.KindServerLost, bridgeExitLost
}

// bridgeRun is the bridge process's view of its session.
type bridgeRun struct {
	log    events.Log
	node   string
	name   string
	gen    uint64
	pid    int
	logger *slog.Logger

	freshNext bool // the generation that superseded this one asked for a fresh MCP session
}

// current reads the session from the KV and folds what the KV has not caught up with.
func (r *bridgeRun) current(ctx context.Context, store projector.Store) (projector.Session, error) {
	s, err := projector.Load(ctx, store, r.node, r.name)
	if err != nil && !errors.Is(err, events.ErrNotFound) {
		return s, err
	}
	if s.Name == "" {
		s = projector.Session{Node: r.node, Name: r.name}
	}
	return projector.Refresh(ctx, r.log, s)
}

// mine says whether s still wants this bridge: the same generation, live, and no other
// bridge process recorded for it.
func (r *bridgeRun) mine(s projector.Session) bool {
	return s.Generation == r.gen && s.IsOpen() && s.Status.Live() && (s.Bridge == nil || s.Bridge.PID == r.pid)
}

// appendWhile appends e expecting the session's last sequence while want holds, folding
// what it missed after each lost compare-and-set.
func (r *bridgeRun) appendWhile(ctx context.Context, s projector.Session, e events.Event, want func(projector.Session) bool) (projector.Session, bool, error) {
	for {
		if !want(s) {
			return s, false, nil
		}
		seq, err := r.log.Append(ctx, e, events.After(s.LastSeq))
		if err == nil {
			e.Seq = seq
			return projector.Apply(s, e), true, nil
		}
		if !errors.Is(err, events.ErrConflict) {
			return s, false, err
		}
		if s, err = projector.Refresh(ctx, r.log, s); err != nil {
			return s, false, err
		}
	}
}

// lost records that this generation lost its server (or never reached it).
func (r *bridgeRun) lost(ctx context.Context, s projector.Session, kind events.Kind, cause error) {
	e := events.New(kind, r.node, r.name, r.gen)
	e.Error = cause.Error()
	e.PID = r.pid
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, _, err := r.appendWhile(ctx, s, e, func(cur projector.Session) bool {
		return cur.Generation == r.gen && cur.IsOpen()
	}); err != nil {
		r.logger.Error("record loss", "err", err)
	}
}

// watch follows the session's events and ends the bridge when a newer generation is
// requested or the session is closed. It keeps following across hub restarts.
func (r *bridgeRun) watch(ctx context.Context, s projector.Session, stop context.CancelCauseFunc) {
	for ctx.Err() == nil {
		err := r.log.Follow(ctx, events.Query{Node: r.node, Session: r.name, AfterSeq: s.LastSeq}, func(e events.Event) error {
			s = projector.Apply(s, e)
			switch {
			case !s.IsOpen():
				return errClosedSession
			case s.Generation > r.gen:
				r.freshNext = s.Fresh
				return errSuperseded
			}
			return nil
		})
		if errors.Is(err, errClosedSession) || errors.Is(err, errSuperseded) {
			stop(err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		r.logger.Warn("event watch interrupted; resuming", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}
