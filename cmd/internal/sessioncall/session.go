package sessioncall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"

	"golang.org/x/sys/unix"

	"github.com/mcpctl/mcpctl/bridge/elicit"
	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

// Waiting limits.
const (
	defaultReadyTimeout = 60 * time.Second
	MaxSessionAttempts  = 6
)

// parseSessionArg reads "@name" (the @ may be omitted) and validates the name.
func ParseSessionArg(arg string) (string, error) {
	name := strings.TrimPrefix(arg, "@")
	if session, node, ok := strings.Cut(name, "@"); ok { // @name@node: a session of another node
		if err := events.ValidateSession(session); err != nil {
			return "", err
		}
		if err := events.ValidateNode(node); err != nil {
			return "", err
		}
		return name, nil
	}
	if err := events.ValidateSessionName(name); err != nil {
		return "", err
	}
	return name, nil
}

// loadSession reads a session from the KV and folds whatever the KV has not caught up
// with yet, straight from the log (projector.Current).
func LoadSession(ctx context.Context, hub *hubclient.HubConn, name string) (projector.Session, error) {
	return projector.Current(ctx, hub.Store, hub.Log, hub.Node, name)
}

// loadSessionKV reads the session as the KV has it: one round trip, for the fast path of a
// call to a ready bridge. Decisions that append go through loadSession.
func loadSessionKV(ctx context.Context, hub *hubclient.HubConn, name string) (projector.Session, error) {
	return projector.Stored(ctx, hub.Store, hub.Node, name)
}

func NotFoundErr(name string) error {
	return clierr.WithHint(&events.SessionError{Op: "use", Session: name, Err: events.ErrNotFound}, clierr.ExitUsage,
		"mcpctl connect <server> @"+name+"   (list sessions with: mcpctl)")
}

// requestRestart asks for generation g+1 under the concurrency rule: when a restart is
// already pending, or one was requested after `since`, the caller joins it; otherwise it
// appends restart_requested expecting the last sequence it saw, and on a lost
// compare-and-set re-reads and decides again. It reports whether this caller's request is
// the one that took effect.
func RequestRestart(ctx context.Context, hub *hubclient.HubConn, s projector.Session, reason string, since time.Time) (projector.Session, bool, error) {
	return RequestRestartOpts(ctx, hub, s, projector.RestartOptions{Reason: reason, Since: since})
}

// requestRestartOpts is requestRestart with options (an explicit restart asks for a fresh
// MCP session).
func RequestRestartOpts(ctx context.Context, hub *hubclient.HubConn, s projector.Session, o projector.RestartOptions) (projector.Session, bool, error) {
	reason, since := o.Reason, o.Since
	if at := InvokedAt(); !since.IsZero() && at.Before(since) {
		since = at
	}
	if s.Node == "" {
		s.Node = hub.Node
	}
	// The decision and the conditional append are projector.RequestRestart, shared with
	// events/subscribe; only the errors get the CLI's hints here.
	s, started, err := projector.RequestRestartWith(ctx, hub.Log, s, projector.RestartOptions{Reason: reason, Since: since, Fresh: o.Fresh})
	var se *events.SessionError
	if errors.As(err, &se) && se.Op == "restart" {
		if errors.Is(err, events.ErrNotFound) {
			return s, false, NotFoundErr(s.Name)
		}
		if errors.Is(err, events.ErrClosed) {
			return s, false, clierr.WithHint(&events.SessionError{Op: "restart", Session: s.Name, Err: events.ErrClosed}, clierr.ExitUsage,
				"open it again with: mcpctl connect <server> @"+s.Name)
		}
		if errors.Is(err, events.ErrGenerationsExhausted) {
			return s, false, GenerationsExhaustedErr("restart", s.Name, err)
		}
	}
	return s, started, err
}

// generationsExhaustedErr: the session is at the largest generation (a forged or corrupted
// log); nothing was appended, and only another name can go on.
func GenerationsExhaustedErr(op, name string, err error) error {
	return clierr.WithHint(fmt.Errorf("%s @%s: the session is at the largest generation, nothing can follow it: %w", op, name, err),
		clierr.ExitUsage, "use another name: mcpctl connect <server> @"+name+"-2   (mcpctl events --session "+name+" shows how it got there)")
}

// invokedAt is when this process started: the moment the user asked. time.Now() inside a
// command is later by the process start-up, which on a loaded machine (32 `mcpctl restart`
// started together on 2 cores) takes longer than a whole restart: callers started together
// would each see the previous restart finished and start another.
func InvokedAt() time.Time {
	now := time.Now()
	start, err := proc.StartTime(os.Getpid())
	var ts unix.Timespec
	if err != nil || unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return now
	}
	return startedAt(now, time.Duration(ts.Nano()), start)
}

// userHZ is the unit of /proc start times: clock ticks (USER_HZ, 100 on Linux).
const userHZ = 100

// startedAt converts a /proc start time (clock ticks after boot, on CLOCK_BOOTTIME) into
// wall-clock time, given now and the time since boot at now. The tick is rounded up: the
// result is the latest moment the process may have started, never before it. A restart
// satisfies the caller when its generation became ready after that moment, and in
// `mcpctl restart @s; mcpctl restart @s` the second process starts only milliseconds after the
// first one's generation became ready: a start time rounded down could put it before, and
// the second restart would be a silent no-op.
func startedAt(now time.Time, sinceBoot time.Duration, startTicks uint64) time.Time {
	started := time.Duration(startTicks+1) * (time.Second / userHZ)
	if started > sinceBoot {
		return now
	}
	return now.Add(started - sinceBoot)
}

// kvSettleGrace is how long a generation settled in the log may wait for the KV to show
// it: longer than the hub's storage check (250 ms), so that a failed KV write is reported.
const kvSettleGrace = 2 * time.Second

// waitSettled waits until the session's current generation is no longer starting: ready,
// or failed in some way. It watches the KV and falls back to reading the log.
func WaitSettled(ctx context.Context, f *cmdkit.Factory, hub *hubclient.HubConn, s projector.Session) (projector.Session, error) {
	settled := func(s projector.Session) bool {
		if s.Status == projector.StatusReady {
			return s.Bridge != nil
		}
		return !s.Status.Live()
	}
	if settled(s) {
		return s, nil
	}
	wctx := ctx
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeoutCause(ctx, defaultReadyTimeout,
			fmt.Errorf("@%s did not become ready within %s", s.Name, defaultReadyTimeout))
		defer cancel()
	}
	updates, err := hub.Store.Watch(wctx, projector.Key(FirstNonEmpty(s.Node, hub.Node), s.Name))
	if err != nil {
		return s, err
	}
	progress := cmdkit.NewProgress(f.IO, fmt.Sprintf("waiting for @%s (%s, generation %d)", s.Name, s.Status, s.Generation))
	defer progress.Done()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	// A generation that settled in the log but not in the KV may have met a hub that cannot
	// write its store (disk full): the command fails with that cause rather than succeed on
	// a state the hub could not record. kvSeq is the newest sequence the KV showed.
	var kvSeq uint64
	var settledAt time.Time
	for {
		select {
		case <-wctx.Done():
			if cause := context.Cause(wctx); cause != nil && ctx.Err() == nil {
				return s, &clierr.Error{Code: clierr.ExitNetwork, Err: cause, Hint: "mcpctl @" + s.Name + " logs"}
			}
			return s, TimeoutErr(ctx, "waiting for @"+s.Name)
		case v, ok := <-updates:
			if !ok {
				if wctx.Err() != nil { // the watch ends with the wait: say why the wait did
					updates = nil
					continue
				}
				return s, fmt.Errorf("watch of @%s ended", s.Name)
			}
			var next projector.Session
			if json.Unmarshal(v, &next) == nil {
				kvSeq = max(kvSeq, next.LastSeq)
				if next.LastSeq > s.LastSeq {
					s = next
				}
			}
		case <-tick.C:
			// The KV may lag or the watch may miss nothing; the log is the truth.
			if next, err := projector.Refresh(wctx, hub.Log, s); err == nil {
				s = next
			} else if jetstream.IsStorageFault(err) {
				return s, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("waiting for @%s (%s, generation %d): %w", s.Name, s.Status, s.Generation, err)}
			}
			// A hub that died under us is not coming back on this connection: say so now
			// rather than at the end of the ready timeout. What was requested stands.
			if hub.Admin != nil && hub.Admin.Lost() {
				return s, &clierr.Error{Code: clierr.ExitNetwork,
					Err:  fmt.Errorf("lost the hub while waiting for @%s (%s, generation %d)", s.Name, s.Status, s.Generation),
					Hint: "mcpctl @" + s.Name + " wait --for ready   (the next command starts a hub again)"}
			}
		}
		if settled(s) {
			if kvSeq >= s.LastSeq {
				return s, nil
			}
			if settledAt.IsZero() {
				settledAt = time.Now()
			}
			if ferr := fault(wctx, hub); ferr != nil {
				return s, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("@%s is %s (generation %d) in the log, but the hub could not record it: %w",
					s.Name, s.Status, s.Generation, ferr)}
			}
			if time.Since(settledAt) > kvSettleGrace {
				return s, nil // the KV lags for another reason; the log is the truth
			}
		}
		progress.Update(fmt.Sprintf("waiting for @%s (%s, generation %d)", s.Name, s.Status, s.Generation))
	}
}

// timeoutErr reports a cancelled or timed-out command.
func TimeoutErr(ctx context.Context, what string) error {
	cause := context.Cause(ctx)
	if cause == nil {
		cause = ctx.Err()
	}
	return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s: %w", what, cause)}
}

// connectBridge returns a client on a ready bridge of the session. A session whose bridge
// is dead (crashed, expired, or a recorded PID that is gone) is restarted through the same
// conditional path as `restart`; parallel callers join one generation.
func ConnectBridge(ctx context.Context, f *cmdkit.Factory, name, command string) (*rpc.Client, projector.Session, error) {
	hub, err := f.Hub(ctx)
	if err != nil {
		return nil, projector.Session{}, err
	}
	if RemoteTarget(f, name) {
		return nil, projector.Session{}, clierr.WithHint(fmt.Errorf("%s works on this node's sessions; @%s is another node's", command, name), clierr.ExitUsage,
			"call its tools, resources and prompts, restart or close it: mcpctl @"+name+" tools-list")
	}
	hub, name = hub.Target(name)
	since := time.Now()
	s, err := loadSessionKV(ctx, hub, name)
	if err != nil {
		return nil, s, err
	}
	if s.Status == projector.StatusReady && s.Bridge != nil && proc.Alive(s.Bridge.PID, s.Bridge.PIDStartTime) {
		if c, err := rpc.Dial(ctx, s.Bridge.Socket); err == nil {
			return c, s, nil // the fast path: the KV says ready and the bridge answers
		}
	}
	if s, err = LoadSession(ctx, hub, name); err != nil {
		return nil, s, err
	}
	for attempt := 0; attempt < MaxSessionAttempts; attempt++ {
		if !s.IsOpen() {
			if s.Status == "" || s.Cleaned {
				return nil, s, NotFoundErr(name)
			}
			return nil, s, clierr.WithHint(&events.SessionError{Op: command, Session: name, Err: events.ErrClosed}, clierr.ExitUsage,
				"open it again with: mcpctl connect <server> @"+name)
		}
		switch s.Status {
		case projector.StatusReady:
			if s.Bridge == nil {
				break // ready announced before the spawn was recorded: wait below
			}
			if proc.Alive(s.Bridge.PID, s.Bridge.PIDStartTime) {
				c, err := rpc.Dial(ctx, s.Bridge.Socket)
				if err == nil {
					return c, s, nil
				}
				if ctx.Err() != nil {
					return nil, s, TimeoutErr(ctx, "connect to @"+name)
				}
			}
			// No since: this generation's bridge is gone, so it satisfies nobody, however
			// recently it became ready; a pending one is still joined.
			s, _, err = RequestRestart(ctx, hub, s, fmt.Sprintf("implicit: %s found bridge pid %d not running", command, s.Bridge.PID), time.Time{})
			if err != nil {
				return nil, s, err
			}
		case projector.StatusStarting, projector.StatusRestarting:
		case projector.StatusCrashed, projector.StatusExpired:
			if s.Readies == 0 {
				return nil, s, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("@%s: the server did not start: %s", name,
					FirstNonEmpty(s.Error, exitText(s.LastExit))), Hint: "mcpctl @" + name + " logs"}
			}
			if s.Status == projector.StatusCrashed && s.Restart == events.RestartNever {
				return nil, s, clierr.WithHint(fmt.Errorf("@%s crashed%s and its restart policy is never", name, clierr.Paren(FirstNonEmpty(s.Error, exitText(s.LastExit)))),
					clierr.ExitNetwork, "mcpctl restart @"+name)
			}
			s, _, err = RequestRestart(ctx, hub, s, fmt.Sprintf("implicit: %s found the session %s", command, s.Status), since)
			if err != nil {
				return nil, s, err
			}
		case projector.StatusUnauthorized:
			if loggedInSinceRefused(f, s) { // mcpctl login since: a new bridge uses its tokens
				if s, _, err = RequestRestart(ctx, hub, s, "implicit: "+command+" after mcpctl login", since); err != nil {
					return nil, s, err
				}
				break
			}
			hint := authHint(f, s)
			if hint == "" {
				hint = "check the -H headers, then: mcpctl connect <server> @" + name + " -H …"
			}
			return nil, s, clierr.WithHint(fmt.Errorf("@%s: the server refused the credentials: %s", name, s.Error), clierr.ExitAuth, hint)
		case projector.StatusFailed:
			return nil, s, clierr.WithHint(fmt.Errorf("@%s failed: %s", name, FirstNonEmpty(s.Error, s.Reason)), clierr.ExitNetwork,
				"mcpctl @"+name+" logs; then mcpctl restart @"+name)
		}
		if s, err = WaitSettled(ctx, f, hub, s); err != nil {
			return nil, s, err
		}
	}
	return nil, s, &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("@%s: no ready bridge after %d attempts%s",
		name, MaxSessionAttempts, statusParen(string(s.Status), s.Error)), Hint: "mcpctl @" + name + " logs"}
}

func exitText(x *projector.Exit) string {
	switch {
	case x == nil:
		return "the bridge exited"
	case x.Code != nil:
		return fmt.Sprintf("the bridge exited with code %d", *x.Code)
	case x.Signal != "":
		return "the bridge was killed by " + x.Signal
	}
	return FirstNonEmpty(x.Reason, "the bridge exited")
}

func FirstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// callError maps what a bridge call returned to an exit code and a message.
func CallError(ctx context.Context, name, method string, err error) error {
	var rpcErr *rpc.RPCError
	switch {
	case ctx.Err() != nil:
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s on @%s: %w; the request was cancelled and not re-sent",
			method, name, firstErr(context.Cause(ctx), ctx.Err()))}
	case errors.Is(err, rpc.ErrUnauthorized):
		return &clierr.Error{Code: clierr.ExitAuth, Err: fmt.Errorf("%s on @%s: %w", method, name, err)}
	case errors.As(err, &rpcErr) && rpcErr.Code != rpc.CodeUpstreamUnavailable && !errors.Is(err, rpc.ErrDisconnected):
		more := ""
		if rpcErr.Code == CodeURLElicitationRequired {
			more = urlRequiredMessage(rpcErr.Data)
		}
		return &clierr.Error{Code: clierr.ExitServer, Err: fmt.Errorf("%s on @%s: server error %d: %s%s", method, name, rpcErr.Code, rpcErr.Message, more)}
	case errors.Is(err, rpc.ErrDisconnected):
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s on @%s: the bridge went away during the call; it was not re-sent (it may or may not have run)", method, name),
			Hint: "mcpctl events --session " + name + " -n 5"}
	}
	return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%s on @%s: %w", method, name, err)}
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// CallSession makes one MCP request on a session.
func CallSession(ctx context.Context, f *cmdkit.Factory, name, method string, params json.RawMessage) (json.RawMessage, projector.Session, error) {
	return CallSessionAsks(ctx, f, name, method, params, nil)
}

// Asks is how a call answers what the server asks back while it runs (the bridge puts
// such an ask to the client whose call caused it): Caps is the ClientCapabilities object
// the call declares, Handle answers.
type Asks struct {
	Caps   json.RawMessage
	Handle rpc.RequestHandler
	// URLRequired, when set, handles the server's -32042 (it needs URLs opened before it
	// can answer): it gets the error's data and returns true when the person did what was
	// asked and the call should be made again, once, as the server asks.
	URLRequired func(ctx context.Context, data json.RawMessage) bool
}

// CallSessionAsks is CallSession, answering the asks the call causes with asks (nil: the
// session's policy answers them).
func CallSessionAsks(ctx context.Context, f *cmdkit.Factory, name, method string, params json.RawMessage, asks *Asks) (json.RawMessage, projector.Session, error) {
	return CallSessionWith(ctx, f, name, method, params, CallOptions{Asks: asks})
}

// CallOptions are what a call does besides sending its request.
type CallOptions struct {
	// Asks answers the asks the call causes (nil: the session's policy answers them).
	Asks *Asks
	// Progress, when set, asks the server for progress (a progressToken in the request's
	// _meta) and receives its notifications while the call runs; it is no longer called
	// once CallSessionWith returns.
	Progress ProgressSink
}

// CallSessionWith makes one MCP request on a session with options. A call to another
// node's session cannot take asks (its session's policy answers them) nor show progress.
func CallSessionWith(ctx context.Context, f *cmdkit.Factory, name, method string, params json.RawMessage, o CallOptions) (json.RawMessage, projector.Session, error) {
	ctx, cancel := cmdkit.CommandContext(ctx, f)
	defer cancel()
	if RemoteTarget(f, name) {
		return CallRemote(ctx, f, name, method, params)
	}
	asks := o.Asks
	if o.Progress != nil {
		with, err := WithProgressToken(params)
		if err != nil {
			return nil, projector.Session{}, err
		}
		params = with
	}
	c, s, err := ConnectBridge(ctx, f, name, method)
	if err != nil {
		return nil, s, err
	}
	defer c.Close()
	if asks != nil {
		with, err := withClientCaps(params, asks.Caps)
		if err != nil {
			return nil, s, err
		}
		params = with
		c.HandleRequests(asks.Handle)
	}
	if o.Progress != nil {
		progress := ReadProgress(c, o.Progress)
		defer progress.Stop()
	}
	cctx, ccancel := CallContext(ctx, f, s, name)
	defer ccancel()
	res, err := c.Call(cctx, method, params)
	var rerr *rpc.RPCError
	if asks != nil && asks.URLRequired != nil && errors.As(err, &rerr) && rerr.Code == CodeURLElicitationRequired &&
		asks.URLRequired(cctx, rerr.Data) {
		res, err = c.Call(cctx, method, params)
	}
	if err != nil {
		return nil, s, CallFailed(cctx, f, s, name, method, err)
	}
	return res, s, nil
}

// CodeURLElicitationRequired is the server's error for a request it can answer only after
// the user opened the URLs in its data (MCP 2025-11-25 URL elicitation).
const CodeURLElicitationRequired = -32042

// urlRequiredMessage says which URLs the server wants opened, from a -32042 error's data:
// only https ones without credentials are shown.
func urlRequiredMessage(data json.RawMessage) string {
	var d struct {
		Elicitations []struct {
			URL string `json:"url"`
		} `json:"elicitations"`
	}
	_ = json.Unmarshal(data, &d)
	var urls []string
	for _, e := range d.Elicitations {
		if elicit.CheckURL(e.URL) == nil {
			urls = append(urls, e.URL)
		}
	}
	if len(urls) == 0 {
		return ""
	}
	return "; open " + strings.Join(urls, " and ") + " in a browser, then run the command again"
}

// fault asks the hub for its storage fault; a connection without an Admin (a unit test's
// in-memory hub) has none.
func fault(ctx context.Context, hub *hubclient.HubConn) error {
	if hub.Admin == nil {
		return nil
	}
	return hub.Admin.Fault(ctx)
}

// Addressed is a session as a command names it: @name, or @name@node for another node's.
type Addressed struct {
	// Hub is the connection as seen from the session's node; Name the plain name.
	Hub  *hubclient.HubConn
	Name string
	// As is what the user wrote, for messages; Remote says the session is another node's.
	As     string
	Remote bool
}

// Load connects to the hub and loads the session named as the user wrote it.
func Load(ctx context.Context, f *cmdkit.Factory, name string) (Addressed, projector.Session, error) {
	hub, err := f.Hub(ctx)
	if err != nil {
		return Addressed{}, projector.Session{}, err
	}
	a := Addressed{Remote: RemoteTarget(f, name), As: name}
	a.Hub, a.Name = hub.Target(name)
	s, err := LoadSession(ctx, a.Hub, a.Name)
	return a, s, err
}

// withClientCaps declares caps in the request's _meta, as a 2026-07-28 client declares its
// capabilities on each request; the bridge takes them out before the server sees the call.
func withClientCaps(params, caps json.RawMessage) (json.RawMessage, error) {
	return withMeta(params, rpc.MetaClientCapabilities, caps)
}

// withMeta sets one key of the request's _meta.
func withMeta(params json.RawMessage, key string, value json.RawMessage) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if len(params) > 0 && string(params) != "null" {
		if err := json.Unmarshal(params, &fields); err != nil {
			return nil, clierr.UsageErr("the request's params are not a JSON object")
		}
	}
	meta := map[string]json.RawMessage{}
	if raw, ok := fields["_meta"]; ok {
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, clierr.UsageErr("the request's _meta is not a JSON object")
		}
	}
	meta[key] = value
	b, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	fields["_meta"] = b
	return json.Marshal(fields)
}

// statusParen is " (status S: detail)" with what of it is known, and "" when neither is.
func statusParen(status, detail string) string {
	var parts []string
	if status != "" {
		parts = append(parts, "status "+status)
	}
	if detail != "" {
		parts = append(parts, detail)
	}
	return clierr.Paren(strings.Join(parts, ": "))
}
