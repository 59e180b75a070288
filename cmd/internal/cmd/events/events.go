package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

type EventsOptions struct {
	F        *cmdkit.Factory
	follow   bool
	since    string
	until    string
	afterSeq uint64
	last     int
	Sessions []string
	Node     string
	types    []string
	format   string
	// notifications merges the session's server notifications into the output.
	notifications  bool
	afterNotifySeq uint64

	// parsed
	query     events.Query
	untilTime time.Time
	tmpl      *template.Template
	sessSet   map[string]bool
	// remote are the sessions named name@node, checked with their node's hub before reading.
	remote []string
	// wantEvents and wantNotes say which streams --type (and --notifications) select.
	wantEvents, wantNotes bool
}

// kindNotification is the --type (and JSON "type") of a server notification in the merged
// output of --notifications.
const kindNotification = "notification"

func NewCmdEvents(f *cmdkit.Factory) *cobra.Command {
	o := &EventsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "events [@session]",
		Short: "Print the event log: what happened to which session, when, and who asked",
		Long: `Print lifecycle events from the log, oldest first. Without -f it prints what matches and
exits; with -f it keeps following. Each event's sequence number is its identity: resume
with --after-seq.

With --notifications (implied by "mcpctl @session events") the sessions' server notifications
(notifications/message, …/list_changed, resources/updated, progress) are merged in, in time
order, with type "notification"; JSON lines then carry "stream": "events" or "notifications".
Notifications have sequences of their own stream: resume them with --after-notify-seq.

Times for --since/--until: RFC 3339 (2026-11-27T10:00:00Z) or a duration before now (10m, 2h, 3d).`,
		Example: `  mcpctl events -n 20
  mcpctl events -f --session docs --type bridge_exited --type restart_requested
  mcpctl events --since 1h --json | jq .type
  mcpctl events --format '{{.Seq}} {{.Session}} {{.Type}}'
  mcpctl @docs events -f                  lifecycle events and server notifications of @docs
  mcpctl events --notifications --type notification --json`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 || (len(args) == 1 && !strings.HasPrefix(args[0], "@")) {
				return clierr.UsageErr("events: unexpected argument %q (a session is written @name)", args[len(args)-1])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.Sessions = append(o.Sessions, args[0])
				o.notifications = true
			}
			if err := o.Parse(time.Now()); err != nil {
				return err
			}
			return RunEvents(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&o.follow, "follow", "f", false, "keep printing new events until interrupted (or --until passes)")
	fl.StringVar(&o.since, "since", "", "only events at or after this time (RFC 3339 or a duration ago, e.g. 10m)")
	fl.StringVar(&o.until, "until", "", "only events up to this time; with -f, stop following when it passes")
	fl.Uint64Var(&o.afterSeq, "after-seq", 0, "only events with a sequence greater than N (resume from the last one you saw)")
	fl.IntVarP(&o.last, "lines", "n", 0, "only the last N matching events (then follow, with -f)")
	fl.StringArrayVar(&o.Sessions, "session", nil, "only this session: name, or name@node for another node's (repeat for several)")
	fl.StringVar(&o.Node, "node", "", "only this node (default: every node in the log)")
	fl.StringArrayVar(&o.types, "type", nil, "only events of this kind (repeat for several; a trailing * takes every kind it starts, e.g. task_*): "+KindList())
	fl.StringVar(&o.format, "format", "", "print each event with a Go template, e.g. '{{.Seq}} {{.Type}}'")
	fl.BoolVar(&o.notifications, "notifications", false, "merge in the server notifications (type \"notification\": .Method, .Params)")
	fl.Uint64Var(&o.afterNotifySeq, "after-notify-seq", 0, "with --notifications: only notifications with a sequence greater than N")
	return cmd
}

func KindList() string {
	var s []string
	for _, k := range events.Kinds() {
		s = append(s, string(k))
	}
	return strings.Join(s, ", ")
}

func (o *EventsOptions) Parse(now time.Time) error {
	if o.since != "" {
		t, err := cmdkit.ParseTime("since", o.since, now)
		if err != nil {
			return err
		}
		o.query.Since = t
	}
	if o.until != "" {
		t, err := cmdkit.ParseTime("until", o.until, now)
		if err != nil {
			return err
		}
		o.untilTime = t
	}
	if !o.untilTime.IsZero() && !o.query.Since.IsZero() && o.untilTime.Before(o.query.Since) {
		return clierr.UsageErr("--until %s is before --since %s", o.until, o.since)
	}
	if o.last < 0 {
		return clierr.UsageErr("-n %d: must be 0 or more", o.last)
	}
	// No sequence comes after the largest one: "after it" can only ever be empty, and the
	// first sequence to read (N+1) would wrap around to 0.
	for _, f := range []struct {
		name string
		seq  uint64
	}{{"after-seq", o.afterSeq}, {"after-notify-seq", o.afterNotifySeq}} {
		if f.seq == math.MaxUint64 {
			return clierr.WithHint(fmt.Errorf("--%s %d: no event can come after the largest sequence", f.name, f.seq), clierr.ExitUsage,
				"the last sequence you saw, e.g. --"+f.name+" 42 (mcpctl events -n 1 shows the newest)")
		}
	}
	o.query.AfterSeq = o.afterSeq
	o.wantEvents, o.wantNotes = len(o.types) == 0, o.notifications && len(o.types) == 0
	for _, t := range o.types {
		for _, k := range strings.Split(t, ",") {
			k = strings.TrimSpace(k)
			if k == kindNotification {
				if !o.notifications {
					return clierr.WithHint(fmt.Errorf("--type notification needs --notifications"), clierr.ExitUsage, "mcpctl events --notifications --type notification")
				}
				o.wantNotes = true
				continue
			}
			o.wantEvents = true
			if prefix, ok := strings.CutSuffix(k, "*"); ok {
				// task_*: every kind with the prefix
				n := len(o.query.Kinds)
				for _, known := range events.Kinds() {
					if strings.HasPrefix(string(known), prefix) {
						o.query.Kinds = append(o.query.Kinds, known)
					}
				}
				if len(o.query.Kinds) == n {
					return clierr.WithHint(fmt.Errorf("--type %q: no event type starts with %q", k, prefix), clierr.ExitUsage, "one of: "+KindList())
				}
				continue
			}
			if !events.Kind(k).Known() {
				return clierr.WithHint(fmt.Errorf("unknown event type %q", k), clierr.ExitUsage, "one of: "+KindList())
			}
			o.query.Kinds = append(o.query.Kinds, events.Kind(k))
		}
	}
	if o.Node != "" {
		if err := events.ValidateNode(o.Node); err != nil {
			return err
		}
		o.query.Node = o.Node
	}
	o.sessSet = map[string]bool{}
	for _, s := range o.Sessions {
		s = strings.TrimPrefix(s, "@")
		if name, node, ok := strings.Cut(s, "@"); ok { // name@node: another node's session
			if err := events.ValidateNode(node); err != nil {
				return err
			}
			if o.Node != "" && o.Node != node {
				return clierr.UsageErr("--session %s is a session of node %s, and the events asked for are node %s's (one node at a time)", s, node, o.Node)
			}
			o.Node, o.query.Node = node, node
			o.remote = append(o.remote, s)
			s = name
		}
		if err := events.ValidateSession(s); err != nil {
			return err
		}
		o.sessSet[s] = true
	}
	if len(o.sessSet) == 1 {
		for s := range o.sessSet {
			o.query.Session = s
		}
	}
	if o.format != "" {
		if o.F.JSON {
			return clierr.UsageErr("--format and --json cannot be used together")
		}
		t, err := template.New("format").Funcs(template.FuncMap{
			"json": func(v any) (string, error) { b, err := json.Marshal(v); return string(b), err },
		}).Parse(o.format)
		if err != nil {
			return clierr.UsageErr("--format: %v", err)
		}
		o.tmpl = t
	}
	return nil
}

func (o *EventsOptions) match(e events.Event) bool {
	if len(o.sessSet) > 1 && !o.sessSet[e.Session] {
		return false
	}
	if !o.untilTime.IsZero() && e.Time.After(o.untilTime) {
		return false
	}
	return true
}

var errUntilPassed = errors.New("--until passed")

func RunEvents(ctx context.Context, o *EventsOptions) error {
	// --timeout bounds the command: a read the hub does not answer in time fails (exit 3);
	// a follow (-f) ends there, as at --until, having printed what came.
	ctx, cancel := cmdkit.CommandContext(ctx, o.F)
	defer cancel()
	hub, err := o.F.Hub(ctx)
	if err != nil {
		return err
	}
	for _, name := range o.remote {
		if sessioncall.RemoteTarget(o.F, name) {
			if _, err := sessioncall.CheckRemote(ctx, o.F, name, "events"); err != nil {
				return err
			}
		}
	}
	pr := &eventPrinter{io: o.F.IO, json: o.F.JSON, tmpl: o.tmpl, sessionWidth: minSessionColumn}
	if !o.F.JSON && o.tmpl == nil {
		pr.sessionWidth = sessionColumn(ctx, hub, o.sessSet)
	}
	if o.notifications {
		return runMerged(ctx, o, hub, pr)
	}
	var ring []events.Event
	lastSeq := o.query.AfterSeq
	err = hub.Log.Read(ctx, o.query, func(e events.Event) error {
		lastSeq = e.Seq
		if !o.untilTime.IsZero() && e.Time.After(o.untilTime) {
			return errUntilPassed
		}
		if !o.match(e) {
			return nil
		}
		if o.last > 0 {
			ring = append(ring, e)
			if len(ring) > o.last {
				ring = ring[1:]
			}
			return nil
		}
		return pr.print(e)
	})
	untilPassed := errors.Is(err, errUntilPassed)
	if err != nil && !untilPassed {
		return err
	}
	for _, e := range ring {
		if err := pr.print(e); err != nil {
			return err
		}
	}
	if !o.follow || untilPassed || (!o.untilTime.IsZero() && !time.Now().Before(o.untilTime)) {
		return nil
	}
	if !o.untilTime.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, o.untilTime)
		defer cancel()
	}
	q := o.query
	q.AfterSeq = lastSeq
	err = hub.Log.Follow(ctx, q, func(e events.Event) error {
		if !o.untilTime.IsZero() && e.Time.After(o.untilTime) {
			return errUntilPassed
		}
		if !o.match(e) {
			return nil
		}
		return pr.print(e)
	})
	// (A wait the follow retried reports its context's cause, a signal, not Canceled; a
	// refusal by the cluster's permissions is an error still.)
	if errors.Is(err, errUntilPassed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		(err != nil && ctx.Err() != nil && errors.Is(err, context.Cause(ctx)) && !errors.Is(err, events.ErrDenied)) {
		return nil
	}
	return err
}

// minSessionColumn is the narrowest session column of the human event lines.
const minSessionColumn = 16

// sessionColumn returns the width that keeps the human event lines aligned: the longest
// session name the hub knows (names run up to 64 characters), or the narrowest column. A
// session opened later while following may still be wider.
func sessionColumn(ctx context.Context, hub *hubclient.HubConn, also map[string]bool) int {
	w := minSessionColumn
	for s := range also {
		w = max(w, len(s))
	}
	if p, err := projector.LoadAll(ctx, hub.Store, ""); err == nil {
		for _, s := range p.Sessions {
			w = max(w, len(s.Name))
		}
	}
	return w
}

// eventPrinter writes events as aligned text, JSON Lines or a template.
type eventPrinter struct {
	io           *cmdkit.IOStreams
	json         bool
	tmpl         *template.Template
	sessionWidth int
}

func (p *eventPrinter) print(e events.Event) error {
	w := p.io.Out
	switch {
	case p.json:
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	case p.tmpl != nil:
		if err := p.tmpl.Execute(w, e); err != nil {
			return &clierr.Error{Code: clierr.ExitUsage, Err: fmt.Errorf("--format: %w", err)}
		}
		_, err := io.WriteString(w, "\n")
		return err
	}
	if e.Type == "" {
		_, err := fmt.Fprintf(w, "%-7d %s\n", e.Seq, p.io.Color("31", "(undecodable event)"))
		return err
	}
	_, err := fmt.Fprintf(w, "%-7d %s  %-*s %4d  %s %s\n", e.Seq, e.Time.Local().Format("2006-01-02 15:04:05.000"),
		p.sessionWidth, e.Session, e.Generation, p.io.Color(kindColor(e.Type), fmt.Sprintf("%-17s", e.Type)), details(e))
	return err
}

func kindColor(k events.Kind) string {
	switch k {
	case events.KindBridgeReady, events.KindCreated:
		return "32" // green
	case events.KindBridgeExited, events.KindServerLost, events.KindFailed, events.KindSpawnFailed,
		events.KindExpired, events.KindUnauthorized:
		return "31" // red
	case events.KindRestartRequested, events.KindBridgeStopping:
		return "33" // yellow
	}
	return "36"
}

// details is the kind-specific part of a human event line.
func details(e events.Event) string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	if e.Server != nil {
		target := e.Server.URL
		if e.Server.Transport == events.TransportStdio {
			target = strings.Join(append([]string{e.Server.Command}, e.Server.Args...), " ")
		}
		add("server", string(e.Server.Transport)+":"+target)
	}
	if e.PID != 0 {
		add("pid", strconv.Itoa(e.PID))
	}
	if e.Code != nil {
		add("code", strconv.Itoa(*e.Code))
	}
	add("signal", e.Signal)
	if e.Type == events.KindServerAsked {
		// What the server asked and what became of it; the values are never in the event.
		add("method", e.Method)
		add("action", e.Action)
		add("took", (time.Duration(e.DurationMS) * time.Millisecond).String())
	}
	if e.Type.IsTask() {
		add("task", e.TaskID)
		add("tool", e.Tool)
		add("status", e.TaskStatus)
		add("message", quoteIfSpace(e.StatusMessage))
	}
	if e.Profile != "" {
		// An OAuth profile's fact (token_refreshed, logged_in, logged_out, unauthorized):
		// never a token.
		add("profile", e.Profile)
		add("origin", e.Origin)
		add("scopes", quoteIfSpace(strings.Join(e.Scopes, " ")))
		if !e.Expiry.IsZero() {
			add("expires", e.Expiry.UTC().Format(time.RFC3339))
		}
	}
	add("reason", quoteIfSpace(e.Reason))
	add("error", quoteIfSpace(e.Error))
	if e.ServerName != "" {
		add("server_name", e.ServerName+" "+e.ServerVersion)
	}
	if e.Actor.PID != 0 {
		add("by", fmt.Sprintf("%s[%d]", e.Actor.Command, e.Actor.PID))
	}
	return strings.Join(parts, " ")
}

func quoteIfSpace(s string) string {
	if strings.ContainsAny(s, " \t") {
		return strconv.Quote(s)
	}
	return s
}
