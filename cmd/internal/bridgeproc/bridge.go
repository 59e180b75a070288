// Package bridgeproc is the bridge process: it holds one session generation's MCP
// connection (package bridge), records bridge_ready and losses in the event log, follows the
// session to exit when superseded or closed, publishes server notifications, and answers
// remote calls. It runs in the daemon binary, mcpctld, so that the mcpctl binary links no
// MCP client library and starts quickly.
package bridgeproc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/hubd"
	"github.com/mcpctl/mcpctl/cmd/internal/remote"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/backoff"
	"github.com/mcpctl/mcpctl/events/jetstream"
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
	f          *cmdkit.Factory
	session    string
	generation uint64
}

// NewCmd is the hidden `bridge` command of the mcpctld binary: the hub starts one per
// session generation.
func NewCmd(f *cmdkit.Factory) *cobra.Command {
	o := &bridgeOptions{f: f}
	cmd := &cobra.Command{
		Use:   "bridge",
		Short: "Hold one session generation's MCP connection (started by the hub)",
		Args:  cobra.NoArgs,
		// The supervisor reads the exit code: a bridge stopped by a signal exits 0.
		Annotations: map[string]string{cmdkit.AnnotationStopsOnSignal: "true"},
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
		return &clierr.Error{Code: clierr.ExitUsage, Err: errors.New("--generation is required")}
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
	if rl, ok := openRotatingLog(home.SessionLog(o.session), hubd.MaxSessionLog, int(os.Stderr.Fd())); ok {
		defer rl.Close()
		logw = rl
	}
	// The log goes through a redactor: until the secrets are read it has nothing to hide.
	red := &redactor{w: logw}
	logger := slog.New(slog.NewTextHandler(red, &slog.HandlerOptions{Level: slog.LevelInfo})).
		With("bridge", o.session, "generation", o.generation, "pid", os.Getpid())
	// The hub that spawned this bridge may be gone already (killed, replaced): wait for the
	// next one rather than give up, or the generation would die for want of a hub and look
	// like a server failure.
	var (
		log       *jetstream.Log
		store     *jetstream.Store
		closeConn = func() {}
	)
	err = untilHub(ctx, logger, "connect to the hub", func(ctx context.Context) error {
		t, err := f.Target()
		if err != nil {
			return err
		}
		l, st, c, err := hubclient.DialBridgeConn(ctx, t)
		if err == nil {
			log, store, closeConn = l, st, c
		}
		return err
	})
	if err != nil {
		return &clierr.Error{Code: bridgeExitNoHub, Err: err}
	}
	defer closeConn()
	br := &bridgeRun{log: log, node: node, name: o.session, gen: o.generation, logger: logger, pid: os.Getpid(), red: red}
	var s projector.Session
	err = untilHub(ctx, logger, "read the session", func(ctx context.Context) (err error) {
		s, err = projector.Current(ctx, store, log, node, o.session)
		return err
	})
	if err != nil {
		return &clierr.Error{Code: bridgeExitNoHub, Err: err}
	}
	if !br.mine(s) {
		logger.Info("superseded before start", "session_generation", s.Generation, "status", s.Status)
		return nil
	}
	sec, err := homedir.ReadSecrets(home, s.Server.Secrets)
	if err != nil {
		br.lost(ctx, s, events.KindServerLost, err)
		return &clierr.Error{Code: bridgeExitLost, Err: err}
	}
	server := s.Server
	if sec.URL != "" {
		// The real URL, with its query; error texts that quote it are redacted below.
		red.add(sec.URL, s.Server.URL)
		if u, err := url.Parse(sec.URL); err == nil {
			for _, vs := range u.Query() {
				for _, v := range vs {
					red.add(v, "REDACTED")
				}
			}
			for _, v := range strings.Split(u.RawQuery, "&") {
				if _, raw, ok := strings.Cut(v, "="); ok {
					red.add(raw, "REDACTED") // as escaped in the URL
				}
			}
		}
		server.URL = sec.URL
	}
	for _, v := range sec.Headers {
		red.add(v, "REDACTED")
	}
	var baseEnv []string
	if sec.Inherited != nil {
		baseEnv = []string{}
		for k, v := range sec.Inherited {
			baseEnv = append(baseEnv, k+"="+v)
		}
	}
	notes := newNotifyPublisher(log, node, o.session, logger)
	defer notes.Close()
	calls := newCallStatsRecorder(callStatsPeriod, notes.Publish) // closed first: its last figures go out with notes
	defer calls.Close()
	asked := newAskRecorder(log, node, o.session, o.generation, logger)
	defer asked.Close()
	refreshed := newRefreshRecorder(log, node, o.session, o.generation, logger)
	defer refreshed.Close()
	tasksRec := newTaskRecorder(log, node, o.session, o.generation, logger)
	defer tasksRec.Close()
	br.authFacts = unauthorizedFacts(home, server, sec)
	asks := askPolicy(s.Server.Asks, sec)
	asks.Stderr, asks.OnAsk = logw, asked.Record
	if asks.SamplingCommand != "" && baseEnv != nil {
		asks.SamplingEnv = baseEnv // the connecting CLI's environment, as a stdio server gets
	}
	cfg := bridge.Config{
		Session:        o.session,
		Server:         server,
		Headers:        sec.Headers,
		Env:            sec.Env,
		BaseEnv:        baseEnv,
		SocketPath:     homedir.BridgeSocketPath(home, o.session, os.Getpid()),
		Stderr:         logw,
		Logger:         logger,
		ClientInfo:     bridge.ClientInfo{Name: "mcpctl", Version: cmdkit.Version},
		OnNotification: notes.Publish,
		OnCall:         calls.Record,
		OnTask:         tasksRec.Record,
		Asks:           asks,
		// The revision the session's last bridge negotiated: only its first connect probes.
		KnownProtocol: s.ProtocolVersion,
		HTTPClient:    oauthHTTPClient(home, server, sec, logger, refreshed.Record),
	}
	// After a crash (policy or implicit restart) a Streamable HTTP session is resumed with
	// the initialize result its previous bridge cached; an explicit restart starts afresh.
	resumed := false
	var declaredRoots []string // what the resumed MCP session was told its roots are
	if s.Server.Transport == events.TransportHTTP && !s.Fresh && s.MCPSessionID != "" {
		if c, err := readInitCache(home, o.session, s.MCPSessionID); err == nil {
			cfg.ResumeSessionID, cfg.ResumeInitialize = s.MCPSessionID, c.Initialize
			resumed, declaredRoots = true, c.Roots
		}
	}
	// Watch the session from here on: a newer generation or a close ends this bridge, also
	// while it is still opening (a slow server, a probe, a stalled hub), so a superseded
	// bridge never outlives its successor's start by the open timeout.
	watchCtx, stopWatch := context.WithCancelCause(ctx)
	defer stopWatch(nil)
	go br.watch(watchCtx, s, stopWatch)
	b := bridge.New(cfg)
	openCtx, cancel := context.WithTimeout(watchCtx, bridgeOpenTimeout)
	err = b.Open(openCtx)
	if err != nil && resumed {
		logger.Info("resuming the MCP session failed; starting a new one", "mcp_session", cfg.ResumeSessionID, "err", err)
		_ = b.Close(context.Background())
		cfg.ResumeSessionID, cfg.ResumeInitialize = "", nil
		b = bridge.New(cfg)
		err = b.Open(openCtx)
	}
	cancel()
	if err != nil && watchCtx.Err() != nil && ctx.Err() == nil {
		_ = b.Close(context.Background())
		logger.Info("superseded while opening", "why", context.Cause(watchCtx))
		return nil
	}
	if err != nil {
		kind, code := classifyLoss(err)
		s, _ = projector.Refresh(ctx, log, s)
		br.lost(ctx, s, kind, err)
		_ = b.Close(context.Background())
		return &clierr.Error{Code: code, Err: fmt.Errorf("open: %s", red.redact(err.Error()))}
	}
	defer b.Close(context.Background())
	if id := b.MCPSessionID(); id != "" {
		if cfg.ResumeSessionID == id && !slices.Equal(declaredRoots, asks.Roots) && len(asks.Roots) > 0 {
			// The session kept its server's MCP session across a change of --root: the
			// server is told, and asks again.
			nctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if err := b.Upstream().Notify(nctx, "notifications/roots/list_changed", nil); err != nil {
				logger.Warn("notifications/roots/list_changed not sent", "err", err)
			} else {
				logger.Info("told the server the roots changed", "roots", len(asks.Roots))
			}
			cancel()
		}
		if err := writeInitCache(home, o.session, id, b.InitializeResult(), asks.Roots); err != nil {
			logger.Warn("cache initialize result", "err", err)
		}
	}

	// Remote calls are answered from before ready is announced: a caller that sees ready
	// finds the subscription.
	if s.Server.Remote {
		stopRemote, err := remote.ServeRemote(log.Conn(), node, o.session, b.SocketPath(), logger)
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
	var ok bool
	err = untilHub(ctx, logger, "record bridge_ready", func(ctx context.Context) (err error) {
		var next projector.Session
		next, ok, err = br.appendWhile(ctx, s, ready, br.mine)
		if err == nil {
			s = next
		} else if next.LastSeq > s.LastSeq {
			s = next // what it folded before the hub went away
		}
		return err
	})
	if err != nil {
		return &clierr.Error{Code: bridgeExitNoHub, Err: err}
	}
	if !ok {
		logger.Info("superseded during start")
		return nil
	}
	logger.Info("ready", "socket", b.SocketPath(), "server", b.ServerName(), "protocol", b.ProtocolVersion())
	followOpenTasks(ctx, log, node, o.session, server.Transport, o.generation, b, logger)

	select {
	case <-watchCtx.Done():
		why := context.Cause(watchCtx)
		if errors.Is(why, errSuperseded) || errors.Is(why, errClosedSession) || errors.Is(why, errNotRecorded) || ctx.Err() != nil {
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
		return &clierr.Error{Code: code, Err: errors.New(red.redact(err.Error()))}
	}
}

const bridgeOpenTimeout = 60 * time.Second

// A bridge whose hub went away waits for the next one (the next command starts it, and it
// rewrites hub.json, which every dial re-reads), re-trying with a growing pause, for at
// most hubWait per step. A bridge that gives up exits with bridgeExitNoHub.
const (
	hubWait         = 60 * time.Second
	hubWaitPause    = 50 * time.Millisecond
	hubWaitPauseMax = time.Second
	bridgeExitNoHub = 6 // no hub answered within hubWait
)

var (
	errSuperseded    = errors.New("superseded by a newer generation")
	errClosedSession = errors.New("session closed")
	errNotRecorded   = errors.New("another process is recorded as this generation's bridge")
)

// untilHub runs op until it succeeds, fails for a reason other than the hub being away
// (cli.HubUnavailable), or hubWait passes. op gets a context that ends then, so that an
// operation that retries by itself (an append) gives up too.
func untilHub(ctx context.Context, logger *slog.Logger, what string, op func(context.Context) error) error {
	wctx, cancel := context.WithTimeout(ctx, hubWait)
	defer cancel()
	pause := backoff.New(hubWaitPause, hubWaitPauseMax)
	waiting := false
	for {
		err := op(wctx)
		if err == nil || !hubclient.HubUnavailable(err) || ctx.Err() != nil {
			if err == nil && waiting {
				logger.Info("the hub is back", "for", what)
			}
			return err
		}
		if wctx.Err() != nil {
			return fmt.Errorf("%s: no hub answered within %s: %w", what, hubWait, err)
		}
		if !waiting {
			waiting = true
			logger.Warn("waiting for the hub", "for", what, "err", err, "up_to", hubWait)
		}
		_ = pause.Wait(wctx) // a deadline that passes is seen by the next attempt
	}
}

func classifyLoss(err error) (events.Kind, int) {
	switch {
	case errors.Is(err, rpc.ErrExpired):
		return events.KindExpired, bridgeExitExpired
	case errors.Is(err, rpc.ErrUnauthorized):
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
	red    *redactor // hides secret values in what is recorded

	freshNext bool // the generation that superseded this one asked for a fresh MCP session
	// authFacts adds the OAuth profile's facts to an unauthorized event (oauth.go); nil for
	// a session without a profile.
	authFacts func(e *events.Event)
}

// mine says whether s still wants this bridge: the same generation, live, and no other
// bridge process recorded for it.
func (r *bridgeRun) mine(s projector.Session) bool {
	return s.Generation == r.gen && s.IsOpen() && s.Status.Live() && (s.Bridge == nil || s.Bridge.PID == r.pid)
}

// appendWhile appends e expecting the session's last sequence while want holds, folding
// what it missed after each lost compare-and-set.
func (r *bridgeRun) appendWhile(ctx context.Context, s projector.Session, e events.Event, want func(projector.Session) bool) (projector.Session, bool, error) {
	// One message id for every attempt, also across calls (untilHub retries this): an
	// append whose acknowledgement was lost with the hub is recognized when it is retried,
	// instead of being stored twice. A bridge process appends each kind once.
	id := fmt.Sprintf("bridge-%s-%s-%s-%d-%d", e.Type, r.node, r.name, r.gen, r.pid)
	var seen projector.Session // the state the append was decided on
	next, seq, err := projector.Update(ctx, r.log, s, func() string { return id }, func(cur projector.Session) (*events.Event, error) {
		seen = cur
		if !want(cur) {
			return nil, nil
		}
		return &e, nil
	})
	if err != nil || seq == 0 {
		return next, false, err
	}
	// Read rather than assume: a retried append recognized by its id may have landed
	// after events this copy has not seen.
	if later, err := projector.Refresh(ctx, r.log, seen); err == nil && later.LastSeq >= seq {
		return later, true, nil
	}
	return next, true, nil
}

// lost records that this generation lost its server (or never reached it).
func (r *bridgeRun) lost(ctx context.Context, s projector.Session, kind events.Kind, cause error) {
	e := events.New(kind, r.node, r.name, r.gen)
	e.Error = r.red.redact(cause.Error())
	e.PID = r.pid
	if kind == events.KindUnauthorized && r.authFacts != nil {
		r.authFacts(&e)
	}
	// With the hub away this waits for the next one: a loss that is not recorded would
	// look, to the hub that finds this bridge gone, like a bridge that died with its hub.
	if err := untilHub(ctx, r.logger, "record "+string(kind), func(ctx context.Context) (err error) {
		var next projector.Session
		next, _, err = r.appendWhile(ctx, s, e, func(cur projector.Session) bool {
			return cur.Generation == r.gen && cur.IsOpen()
		})
		if next.LastSeq > s.LastSeq {
			s = next
		}
		return err
	}); err != nil {
		r.logger.Error("record loss", "err", err)
	}
}

// The pause before the event watch resumes after an interruption.
const (
	watchResumePause    = 100 * time.Millisecond
	watchResumePauseMax = 2 * time.Second
)

// watch follows the session's events and ends the bridge when a newer generation is
// requested or the session is closed. It keeps following across hub restarts.
func (r *bridgeRun) watch(ctx context.Context, s projector.Session, stop context.CancelCauseFunc) {
	pause := backoff.New(watchResumePause, watchResumePauseMax)
	for ctx.Err() == nil {
		err := r.log.Follow(ctx, events.Query{Node: r.node, Session: r.name, AfterSeq: s.LastSeq}, func(e events.Event) error {
			pause.Reset() // the watch works again
			s = projector.Apply(s, e)
			switch {
			case !s.IsOpen():
				return errClosedSession
			case s.Generation > r.gen:
				r.freshNext = s.Fresh
				return errSuperseded
			case s.Generation == r.gen && s.Bridge != nil && s.Bridge.PID != r.pid:
				// A hub died between starting this bridge and recording it, and the next
				// hub started the generation again: that process is the one of record.
				return errNotRecorded
			}
			return nil
		})
		if errors.Is(err, errClosedSession) || errors.Is(err, errSuperseded) || errors.Is(err, errNotRecorded) {
			stop(err)
			return
		}
		if ctx.Err() != nil {
			return
		}
		r.logger.Warn("event watch interrupted; resuming", "err", err)
		_ = pause.Wait(ctx) // ctx's end is seen by the loop
	}
}
