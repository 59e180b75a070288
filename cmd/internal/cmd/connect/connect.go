package connect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
	"github.com/mcpctl/mcpctl/cmd/internal/ask"
	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/sessions"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

type connectOptions struct {
	f        *cmdkit.Factory
	target   string
	name     string
	command  []string
	headers  []string
	env      []string
	restart  string
	protocol string
	noWait   bool
	remote   bool
	asks     askFlags
	oauth    profileFlags
}

func NewCmdConnect(f *cmdkit.Factory) *cobra.Command {
	o := &connectOptions{f: f}
	cmd := &cobra.Command{
		Use:   "connect <server> [@name] [-H 'K: V'] [--restart POLICY] | connect [@name] -- command args…",
		Short: "Open a named session to an MCP server (or reuse the one that is open)",
		Long: `Open a session held by a bridge process. <server> is one of:
  https://host/mcp          Streamable HTTP (a URL ending in /sse uses legacy SSE)
  host/mcp, host:port/mcp   the same with https:// (http:// for localhost, 127.x.x.x and [::1])
  file.json:entry           one entry of an mcp.json-style file ("mcpServers" or "servers"), ${VAR} expanded
  file.json                 every entry of the file, each as a session named after it
  -- command args…          a stdio server started by the bridge

Without @name an open session of the same URL is reused, whatever its name; otherwise the
session is named after the entry, host or command: the host's first
label that is not www, api or mcp (mcp.example.com → @example, localhost:8080 → @localhost,
an IP address with dashes: 127.0.0.1 → @127-0-0-1). Connecting a name that is open with the
same server reuses it; with another server it is an error (give a name: @other).
Header and env values are kept in a 0600 file, never in the event log or argv. So that
header values need not be on this command line either (other users see argv with ps),
-H @file reads headers from a file, one 'Name: value' a line, and -H - reads them from
stdin. A query in the URL (?api_key=…) is kept with them: the log shows its values as
REDACTED.

A stdio server gets this command's environment, without mcpctl's own variables (MCPCTL_*),
plus -e/config env values (which win). It is captured now and reused by every restart of
the session; nothing of the hub's or the bridge's environment reaches the server.

When the server asks back, the session's policy answers: --elicit (decline by default,
cancel, defaults, or a JSON answer kept with the secrets), --root DIR (roots/list) and
--sampling-command CMD (sampling/createMessage: the request as JSON on CMD's stdin, the
result as JSON on its stdout). Each ask is recorded as a server_asked event, without values.`,
		Example: `  mcpctl connect https://mcp.example.com/mcp @docs -H 'Authorization: Bearer $TOKEN'
  mcpctl connect https://mcp.example.com/mcp @docs -H @$HOME/.config/docs.headers
  printf 'Authorization: Bearer %s\n' "$TOKEN" | mcpctl connect https://mcp.example.com/mcp @docs -H -
  mcpctl connect ~/.config/mcp.json:github
  mcpctl connect @fs -- npx -y @modelcontextprotocol/server-filesystem /tmp`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); dash >= 0 {
				o.command = args[dash:]
				args = args[:dash]
			}
			for _, a := range args {
				switch {
				case strings.HasPrefix(a, "@"):
					if o.name != "" {
						return clierr.UsageErr("two session names given: @%s and %s", o.name, a)
					}
					name, err := sessioncall.ParseSessionArg(a)
					if err != nil {
						return err
					}
					if strings.Contains(name, "@") {
						return clierr.UsageErr("connect opens sessions on this node: @%s names another node's (run connect there)", name)
					}
					o.name = name
				case o.target == "":
					o.target = a
				default:
					return clierr.UsageErr("unexpected argument %q (one server per connect; quote a command after --)", a)
				}
			}
			return runConnect(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&o.headers, "header", "H", nil, "HTTP header 'Name: value', @file (one a line) or - (stdin) (repeatable; values are kept secret)")
	fl.StringArrayVarP(&o.env, "env", "e", nil, "environment variable NAME=value for a stdio server (repeatable; kept secret)")
	fl.StringVar(&o.restart, "restart", string(events.RestartOnFailure), "restart policy when the bridge dies: on-failure, always, never")
	fl.StringVar(&o.protocol, "protocol", "", "pin the MCP revision ("+strings.Join(rpc.ProtocolVersions(), ", ")+"); default: the newest both sides speak")
	fl.BoolVar(&o.noWait, "no-wait", false, "return once the session is created, without waiting for it to be ready")
	fl.StringVar(&o.asks.elicit, "elicit", "decline", "answer the server's elicitations: "+ask.ElicitFlagUsage)
	fl.StringArrayVar(&o.asks.roots, "root", nil, "a directory the server may see as a root (repeatable; answers roots/list)")
	fl.StringVar(&o.asks.sampling, "sampling-command", "", "answer the server's sampling requests by running this shell command: the request as JSON on stdin, the result as JSON on stdout")
	addProfileFlags(fl, &o.oauth)
	fl.BoolVar(&o.remote, "remote", false, "let other nodes of the NATS cluster call this session (@name@node), as far as NATS permissions allow")
	return cmd
}

// targets resolves the command line into the servers to connect, with no side effect.
func (o *connectOptions) targets() ([]serverTarget, error) {
	var ts []serverTarget
	switch {
	case len(o.command) > 0 && o.target != "":
		return nil, clierr.UsageErr("give either a server (%s) or a command after --, not both", o.target)
	case len(o.command) > 0:
		t, err := commandTarget(o.command)
		if err != nil {
			return nil, err
		}
		ts = []serverTarget{t}
	case o.target == "":
		return nil, clierr.WithHint(errors.New("connect needs a server"), clierr.ExitUsage,
			"mcpctl connect https://host/mcp @name, mcpctl connect mcp.json:entry, or mcpctl connect @name -- command args")
	case strings.HasPrefix(o.target, "http://") || strings.HasPrefix(o.target, "https://"):
		t, err := parseURLTarget(o.target)
		if err != nil {
			return nil, err
		}
		ts = []serverTarget{t}
	case looksLikeConfig(o.target):
		var err error
		if ts, err = parseConfigArg(o.target); err != nil {
			return nil, err
		}
	case strings.Contains(o.target, "://"):
		_, err := parseURLTarget(o.target)
		return nil, err
	case bareHostURL(o.target) != "" && !isFile(o.target):
		t, err := parseURLTarget(bareHostURL(o.target))
		if err != nil {
			return nil, err
		}
		ts = []serverTarget{t}
	default:
		return nil, clierr.WithHint(fmt.Errorf("cannot tell what server %q is", o.target), clierr.ExitUsage,
			"a URL (https://host/mcp), a config file (file.json:entry), or a command after -- (mcpctl connect @name -- cmd args)")
	}
	if len(ts) > 1 && o.name != "" {
		return nil, clierr.UsageErr("@%s names one session, but %s has %d servers: pick one with %s:ENTRY", o.name, o.target, len(ts), o.target)
	}
	policy := events.RestartPolicy(o.restart)
	if !policy.Valid() {
		return nil, clierr.UsageErr("--restart %q: one of on-failure, always, never", o.restart)
	}
	asks, elicitContent, err := o.asks.policy()
	if err != nil {
		return nil, err
	}
	var in io.Reader
	if o.f != nil && o.f.IO != nil {
		in = o.f.IO.In
	}
	hs, err := readHeaderArgs(o.headers, in)
	if err != nil {
		return nil, err
	}
	headers, err := parseHeaders(hs)
	if err != nil {
		return nil, err
	}
	env := map[string]string{}
	for i, kv := range o.env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			// Not quoted: the text may be a value (a token) without its name.
			return nil, clierr.WithHint(fmt.Errorf("malformed --env %d: expected NAME=value", i+1), clierr.ExitUsage, "-e NAME=value")
		}
		if err := checkEnvName(k, fmt.Sprintf("--env %d", i+1)); err != nil {
			return nil, err
		}
		env[k] = v
	}
	for i := range ts {
		t := &ts[i]
		if o.name != "" {
			t.Name = o.name
		} else {
			t.Derived = true
		}
		if err := events.ValidateSessionName(t.Name); err != nil {
			return nil, err
		}
		if t.Headers == nil {
			t.Headers = map[string]string{}
		}
		if t.Env == nil {
			t.Env = map[string]string{}
		}
		for k, v := range headers {
			t.Headers[k] = v
		}
		for k, v := range env {
			t.Env[k] = v
		}
		if len(t.Headers) > 0 && t.Server.Transport == events.TransportStdio {
			return nil, clierr.UsageErr("-H headers apply to HTTP servers; %s is a stdio command (use --env)", t.Server.Command)
		}
		t.Server.HeaderNames = sortedKeys(t.Headers)
		t.Server.EnvNames = sortedKeys(t.Env)
		if o.protocol != "" {
			if !rpc.KnownProtocol(o.protocol) {
				return nil, clierr.WithHint(fmt.Errorf("--protocol %q: not an MCP revision mcpctl speaks", o.protocol), clierr.ExitUsage,
					"one of: "+strings.Join(rpc.ProtocolVersions(), ", "))
			}
			t.Server.Protocol = o.protocol
		}
		t.Server.Remote = o.remote
		t.Server.Asks = asks
		t.ElicitContent = elicitContent
	}
	return ts, nil
}

// openSessionOf is the name of this node's open session of srv (the first by name), or "".
func openSessionOf(ctx context.Context, hub *hubclient.HubConn, srv events.Server) (string, error) {
	p, err := projector.LoadAll(ctx, hub.Store, hub.Node)
	if err != nil {
		return "", err
	}
	for _, s := range p.List(hub.Node) {
		if s.IsOpen() && sameServer(s.Server, srv) {
			return s.Name, nil
		}
	}
	return "", nil
}

// derivedNameHint says how to give a name to a server whose derived name is taken.
func derivedNameHint(t serverTarget) string {
	if t.Server.Transport == events.TransportStdio {
		return "name this one: mcpctl connect @NAME -- " + sessions.ServerLabel(t.Server)
	}
	return "name this one: mcpctl connect " + sessions.ServerLabel(t.Server) + " @NAME"
}

// isFile says whether arg names a file here: "server.py" is then a file, not a host.
func isFile(arg string) bool {
	_, err := os.Stat(arg)
	return err == nil
}

// undoCreate closes and cleans a session whose first generation failed, unless something
// else happened to it meanwhile (another generation, a close).
func undoCreate(ctx context.Context, hub *hubclient.HubConn, name string, gen uint64, ref string, cause error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	s, err := sessioncall.LoadSession(ctx, hub, name)
	if err != nil {
		return
	}
	for _, kind := range []events.Kind{events.KindClosed, events.KindCleaned} {
		if s, _, err = projector.Update(ctx, hub.Log, s, nil, func(s projector.Session) (*events.Event, error) {
			if s.Generation != gen || (kind == events.KindClosed && !s.IsOpen()) || s.Cleaned {
				return nil, nil
			}
			e := events.New(kind, hub.Node, name, gen)
			e.Reason = "connect failed: " + cause.Error()
			return &e, nil
		}); err != nil {
			return
		}
	}
	if s.Server.Secrets == ref && !s.Cleaned {
		return // the incarnation lives on (another process restarted it): it needs the file
	}
	homedir.RemoveSecrets(hub.Home, ref)
}

type connectResult struct {
	Session string            `json:"session"`
	Action  string            `json:"action"` // created | reused | restarted
	State   projector.Session `json:"state"`
}

func runConnect(ctx context.Context, o *connectOptions) error {
	ts, err := o.targets()
	if err != nil {
		return err
	}
	prof, err := o.oauth.secretsValue()
	if err != nil {
		return err
	}
	for i := range ts {
		ts[i].OAuthProfile = prof
	}
	f := o.f
	ctx, cancel := cmdkit.CommandContext(ctx, f)
	defer cancel()
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	if len(ts) == 1 && ts[0].Derived && ts[0].Server.Transport != events.TransportStdio {
		// As mcpc: without @name, an open session of the same server is reused, whatever
		// its name (connect URL @docs, then connect URL, is @docs).
		if name, err := openSessionOf(ctx, hub, ts[0].Server); err != nil {
			return err
		} else if name != "" {
			ts[0].Name = name
		}
	}
	var results []connectResult
	var errs []error
	for _, t := range ts {
		r, err := connectOne(ctx, f, hub, t, events.RestartPolicy(o.restart), o.noWait)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		results = append(results, r)
	}
	switch {
	case f.JSON && len(results) == 0:
		// Nothing connected: stdout stays empty and the error says why (on stderr).
	case f.JSON:
		if len(results) == 1 && len(ts) == 1 {
			if err := cmdkit.WriteJSON(f.IO.Out, results[0]); err != nil {
				return err
			}
		} else if err := cmdkit.WriteJSON(f.IO.Out, results); err != nil {
			return err
		}
	default:
		sort.Slice(results, func(i, j int) bool { return results[i].Session < results[j].Session })
		for _, r := range results {
			s := r.State
			fmt.Fprintf(f.IO.Out, "@%s %s: %s %s (protocol %s), generation %d\n", r.Session, r.Action,
				sessioncall.FirstNonEmpty(s.ServerName, sessions.ServerLabel(s.Server)), s.ServerVersion, sessioncall.FirstNonEmpty(s.ProtocolVersion, "-"), s.Generation)
		}
	}
	return errors.Join(errs...)
}

// connectOne creates the session under the compare-and-set (expecting the last sequence
// the name had: 0 for a new name, the closed/cleaned event's for an old one), or reuses it
// when it is open with the same server.
func connectOne(ctx context.Context, f *cmdkit.Factory, hub *hubclient.HubConn, t serverTarget, policy events.RestartPolicy, noWait bool) (connectResult, error) {
	r := connectResult{Session: t.Name}
	s, err := sessioncall.LoadSession(ctx, hub, t.Name)
	if err != nil {
		return r, err
	}
	var ref string
	defer func() {
		// Our create lost: the winner has its own file. (Never the file the session names:
		// that is ours, stored although this process saw no acknowledgement.)
		if ref != "" && r.Action != "created" && s.Server.Secrets != ref {
			homedir.RemoveSecrets(hub.Home, ref)
		}
	}()
	// A message id per attempt; the last one is kept for the retry below.
	var msgID string
	newID := func() string {
		msgID = fmt.Sprintf("connect-%s-%d-%d", t.Name, os.Getpid(), time.Now().UnixNano())
		return msgID
	}
	var create *events.Event // the create last decided on, and the state it expected
	var expected uint64
	reconfigured := false // the last decision: restart the open session with new asks
	s, seq, err := projector.Update(ctx, hub.Log, s, newID, func(s projector.Session) (*events.Event, error) {
		create, reconfigured = nil, false
		if s.IsOpen() {
			switch {
			case sameServer(s.Server, t.Server):
				return nil, nil // reuse it
			case asksOnlyDiffer(s.Server, t.Server) && t.ElicitContent == nil:
				// Only how it answers the server's asks changed: the next generation runs
				// with the new policy. Its MCP session is kept when the declared
				// capabilities stay the same (the server is then told the roots changed).
				gen, err := events.NextGeneration(s.Generation)
				if err != nil {
					return nil, sessioncall.GenerationsExhaustedErr("connect", t.Name, err)
				}
				e := events.New(events.KindRestartRequested, hub.Node, t.Name, gen)
				srv := t.Server
				srv.Secrets = s.Server.Secrets
				e.Server = &srv
				e.Reason = "connect: the session's answers to server asks changed"
				e.Fresh = !sameCapabilities(s.Server.Asks, t.Server.Asks)
				reconfigured = true
				return &e, nil
			case asksOnlyDiffer(s.Server, t.Server):
				return nil, clierr.WithHint(&events.SessionError{Op: "connect", Session: t.Name,
					Err: fmt.Errorf("%w; a new --elicit answer cannot be given to an open session", events.ErrExists)}, clierr.ExitUsage,
					"mcpctl close @"+t.Name+", then connect again")
			}
			if t.Derived {
				// The user gave no name: say where this one came from, and never reuse it.
				return nil, clierr.WithHint(&events.SessionError{Op: "connect", Session: t.Name,
					Err: fmt.Errorf("%w with another server (%s); @%s is the name derived from %s", events.ErrExists,
						sessions.ServerLabel(s.Server), t.Name, sessions.ServerLabel(t.Server))}, clierr.ExitUsage,
					derivedNameHint(t))
			}
			return nil, clierr.WithHint(&events.SessionError{Op: "connect", Session: t.Name,
				Err: fmt.Errorf("%w with another server (%s)", events.ErrExists, sessions.ServerLabel(s.Server))}, clierr.ExitUsage,
				"pick another name, or: mcpctl close @"+t.Name)
		}
		gen, err := events.NextGeneration(s.Generation)
		if err != nil {
			return nil, sessioncall.GenerationsExhaustedErr("connect", t.Name, err)
		}
		if ref == "" {
			sec := homedir.Secrets{Headers: t.Headers, Env: t.Env, URL: t.RealURL, ElicitContent: t.ElicitContent, OAuthProfile: t.OAuthProfile}
			if t.Server.Transport == events.TransportStdio {
				sec.Inherited = homedir.InheritedEnv(os.Environ())
			}
			if ref, err = homedir.WriteSecrets(hub.Home, t.Name, sec); err != nil {
				return nil, fmt.Errorf("store secrets: %w", err)
			}
		}
		e := events.New(events.KindCreated, hub.Node, t.Name, gen)
		srv := t.Server
		srv.Secrets = ref
		e.Server = &srv
		e.Restart = policy
		e.Reason = "connect"
		create, expected = &e, s.LastSeq
		return &e, nil
	})
	switch {
	case err != nil && create != nil && !errors.Is(err, events.ErrConflict):
		// The append failed without a verdict (interrupted, timed out against a stalled hub,
		// the connection lost): the event may be stored without this process having seen the
		// acknowledgement. Retrying with the same message id is idempotent and tells which;
		// a create of ours must not be left behind, and a stored create must keep its
		// secrets file until it is undone, or the session could never start again.
		bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_, err2 := hub.Log.Append(bg, *create, events.Expect{LastSeq: expected, MsgID: msgID})
		if errors.Is(err2, events.ErrConflict) {
			// A conflict is no verdict either: the log checks the expected sequence before
			// the duplicate window, and recognizing our own stored write needs a read that a
			// stalled hub can fail as well. The session itself tells: a create of ours (and
			// every generation restarted from it) names our file.
			switch cur, rerr := projector.Refresh(bg, hub.Log, s); {
			case rerr != nil:
				err2 = rerr // unknown
			case cur.Server.Secrets == ref:
				err2 = nil // stored
			default:
				s = cur // not stored: the deferred cleanup removes our file
			}
		}
		switch {
		case err2 == nil:
			undoCreate(bg, hub, t.Name, create.Generation, ref, err) // removes the file once undone
			ref = ""
		case !errors.Is(err2, events.ErrConflict):
			ref = "" // still unknown: keep the file (clean removes it with the session)
		}
		cancel()
		r.Action = "failed"
		return r, err
	case err != nil:
		return r, err
	case seq != 0 && reconfigured:
		r.Action = "reconfigured"
	case seq != 0, ref != "" && s.Server.Secrets == ref:
		// The second case: our append was stored but reported lost (its acknowledgement and
		// the check for our own write both failed against a stalled hub), and the decision
		// after the refresh found "our" session open. It is the one this connect created.
		r.Action = "created"
	default:
		r.Action = "reused"
	}
	if noWait {
		r.State = s
		return r, nil
	}
	created := s.Generation
	if r.Action == "reconfigured" {
		// Wait for the requested generation itself: the KV may still list the previous one
		// as ready.
		if s, err = sessioncall.WaitSettled(ctx, f, hub, s); err != nil {
			return r, err
		}
	}
	c, s, err := sessioncall.ConnectBridge(ctx, f, t.Name, "connect")
	if err != nil {
		if r.Action == "created" {
			// The session never worked: take it back off the list, so that a failed connect
			// leaves the listing (and no process) behind. The log keeps the attempt. (s may be
			// empty here: connectBridge returns what it had when it failed.)
			r.Action = "failed"
			undoCreate(context.WithoutCancel(ctx), hub, t.Name, created, ref, err)
		}
		if tail := hubclient.TailFile(hub.Home.SessionLog(t.Name), 3); tail != "" && !f.JSON {
			err = &clierr.Error{Code: clierr.ExitCode(err), Err: fmt.Errorf("%w\n  log: %s", err, tail), Hint: clierr.HintOf(err)}
		}
		return r, err
	}
	c.Close()
	r.State = s
	return r, nil
}
