package session

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	eventscmd "github.com/mcpctl/mcpctl/cmd/internal/cmd/events"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
	"github.com/mcpctl/mcpctl/events"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/projector"
)

// generationRecord is one generation of a session, told from its events: who asked for
// it and why, when its bridge started and became ready, and how it ended.
type generationRecord struct {
	Generation uint64 `json:"generation"`
	// Trigger classifies the request: connect, explicit (restart), implicit (a command found
	// the bridge dead), policy (the supervisor's restart policy), or other.
	Trigger     string       `json:"trigger"`
	RequestKind events.Kind  `json:"request_kind"` // created or restart_requested
	RequestSeq  uint64       `json:"request_seq"`
	RequestedAt time.Time    `json:"requested_at"`
	RequestedBy events.Actor `json:"requested_by"`
	Reason      string       `json:"reason,omitempty"`

	PID       int       `json:"pid,omitempty"`
	SpawnedAt time.Time `json:"spawned_at,omitzero"`
	ReadyAt   time.Time `json:"ready_at,omitzero"`
	// TimeToReady is from the request to bridge_ready.
	TimeToReady time.Duration `json:"time_to_ready_ns,omitempty"`

	// How it ended: the problems reported (server_lost, expired, …), the bridge's stop
	// reason, its exit, and what replaced it (the next request, or closed).
	Problems  []string  `json:"problems,omitempty"`
	Stopping  string    `json:"stopping,omitempty"`
	ExitedAt  time.Time `json:"exited_at,omitzero"`
	ExitCode  *int      `json:"exit_code,omitempty"`
	Signal    string    `json:"signal,omitempty"`
	EndedBy   string    `json:"ended_by,omitempty"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
	EndReason string    `json:"end_reason,omitempty"`
	// Lifetime is from ready to the bridge's exit (or to now while it runs).
	Lifetime time.Duration `json:"lifetime_ns,omitempty"`
	Current  bool          `json:"current"`

	// Asks are the server's asks to this generation's bridge (server_asked events), one
	// entry a method and action, in the order they first happened. Never the values.
	Asks []askTally `json:"asks,omitempty"`
}

// askTally counts the asks of one method that ended one way, and says when the last did
// and why (its error, when it failed or was declined by policy).
type askTally struct {
	Method    string    `json:"method"`
	Action    string    `json:"action"`
	Count     int       `json:"count"`
	LastAt    time.Time `json:"last_at"`
	LastError string    `json:"last_error,omitempty"`
}

// addAsk counts one server_asked event.
func (r *generationRecord) addAsk(e events.Event) {
	for i := range r.Asks {
		if a := &r.Asks[i]; a.Method == e.Method && a.Action == e.Action {
			a.Count, a.LastAt, a.LastError = a.Count+1, e.Time, e.Error
			return
		}
	}
	r.Asks = append(r.Asks, askTally{Method: e.Method, Action: e.Action, Count: 1, LastAt: e.Time, LastError: e.Error})
}

// historyResult is `history --json`.
type historyResult struct {
	Session     string             `json:"session"`
	State       projector.Session  `json:"state"`
	Generations []generationRecord `json:"generations"`
}

func triggerOf(k events.Kind, reason string) string {
	switch {
	case k == events.KindCreated:
		return "connect"
	case strings.HasPrefix(reason, "explicit"):
		return "explicit"
	case strings.HasPrefix(reason, "implicit"):
		return "implicit"
	case strings.HasPrefix(reason, "restart policy"):
		return "policy"
	}
	return "other"
}

// generations folds a session's events, in log order, into one record per generation.
func generations(evs []events.Event, now time.Time) []generationRecord {
	var out []generationRecord
	idx := map[uint64]int{}
	get := func(g uint64) *generationRecord {
		if i, ok := idx[g]; ok {
			return &out[i]
		}
		return nil
	}
	for _, e := range evs {
		switch e.Type {
		case events.KindCreated, events.KindRestartRequested:
			if get(e.Generation) != nil {
				continue // a request the fold ignored (joins happen before the append)
			}
			if prev := len(out) - 1; prev >= 0 && out[prev].EndedBy == "" {
				out[prev].EndedBy, out[prev].EndedAt, out[prev].EndReason = string(e.Type), e.Time, e.Reason
			}
			idx[e.Generation] = len(out)
			out = append(out, generationRecord{Generation: e.Generation, Trigger: triggerOf(e.Type, e.Reason),
				RequestKind: e.Type, RequestSeq: e.Seq, RequestedAt: e.Time, RequestedBy: e.Actor, Reason: e.Reason})
			continue
		case events.KindClosed:
			if r := get(e.Generation); r != nil && r.EndedBy == "" {
				r.EndedBy, r.EndedAt, r.EndReason = string(e.Type), e.Time, e.Reason
			}
			continue
		}
		r := get(e.Generation)
		if r == nil {
			continue
		}
		switch e.Type {
		case events.KindBridgeSpawned:
			r.PID, r.SpawnedAt = e.PID, e.Time
		case events.KindBridgeReady:
			if r.ReadyAt.IsZero() {
				r.ReadyAt, r.TimeToReady = e.Time, e.Time.Sub(r.RequestedAt)
			}
			if r.PID == 0 {
				r.PID = e.PID
			}
		case events.KindBridgeStopping:
			r.Stopping = e.Reason
		case events.KindServerLost, events.KindExpired, events.KindUnauthorized, events.KindSpawnFailed, events.KindFailed:
			r.Problems = append(r.Problems, string(e.Type)+": "+sessioncall.FirstNonEmpty(e.Error, e.Reason))
		case events.KindServerAsked:
			r.addAsk(e)
		case events.KindBridgeExited:
			if r.ExitedAt.IsZero() {
				r.ExitedAt, r.ExitCode, r.Signal = e.Time, e.Code, e.Signal
			}
		}
	}
	for i := range out {
		r := &out[i]
		r.Current = i == len(out)-1
		switch {
		case r.ReadyAt.IsZero():
		case !r.ExitedAt.IsZero():
			r.Lifetime = r.ExitedAt.Sub(r.ReadyAt)
		case r.Current && r.EndedBy == "":
			r.Lifetime = now.Sub(r.ReadyAt)
		}
	}
	return out
}

func NewCmdHistory(f *cmdkit.Factory) *cobra.Command {
	var raw bool
	var pic pictureFiles
	cmd := sessionCmd("history @session", "Why the session restarted: each generation, who asked and why, how its bridge ended", 0,
		func(ctx context.Context, name string, _ []string) error {
			if sessioncall.RemoteTarget(f, name) {
				// Another node's session: the rule of remote calls (its node's hub answers,
				// the session was opened with --remote), then its events from the shared log.
				ctx, cancel := cmdkit.CommandContext(ctx, f)
				defer cancel()
				if _, err := sessioncall.CheckRemote(ctx, f, name, "history"); err != nil {
					return err
				}
			}
			if raw {
				session, node := hubclient.SplitTarget(name) // @name@node: that node's events
				o := &eventscmd.EventsOptions{F: f, Sessions: []string{session}, Node: node}
				if err := o.Parse(time.Now()); err != nil {
					return err
				}
				return eventscmd.RunEvents(ctx, o)
			}
			return runHistory(ctx, f, name, pic)
		})
	cmd.Flags().BoolVar(&raw, "events", false, "print the session's raw events instead")
	cmd.Flags().StringVar(&pic.SVG, "svg", "", "draw the generations as an SVG timeline into `FILE` (- for stdout)")
	cmd.Flags().StringVar(&pic.HTML, "html", "", "write an HTML page with the timeline and the history into `FILE` (- for stdout)")
	return cmd
}

// pictureFiles are where history draws the session's life instead of printing it.
type pictureFiles struct{ SVG, HTML string }

func runHistory(ctx context.Context, f *cmdkit.Factory, name string, pic pictureFiles) error {
	if pic.SVG == "-" && pic.HTML == "-" {
		return clierr.UsageErr("history: --svg - and --html - cannot both write to stdout")
	}
	if f.JSON && (pic.SVG == "-" || pic.HTML == "-") {
		return clierr.UsageErr("history: --json and a picture on stdout (-) cannot both write to stdout")
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		return err
	}
	target := name // @name or @name@node: what the user wrote, for messages
	hub, name = hub.Target(name)
	var evs []events.Event
	s := projector.Session{Node: hub.Node, Name: name}
	err = hub.Log.Read(ctx, events.Query{Node: hub.Node, Session: name}, func(e events.Event) error {
		evs = append(evs, e)
		s = projector.Apply(s, e)
		return nil
	})
	if err != nil {
		return err
	}
	if len(evs) == 0 {
		return sessioncall.NotFoundErr(target)
	}
	now := time.Now()
	gens := generations(evs, now)
	if pic.SVG != "" || pic.HTML != "" {
		for _, p := range []struct {
			path string
			draw func(io.Writer, string, projector.Session, []generationRecord, time.Time) error
		}{{pic.SVG, writeTimeline}, {pic.HTML, writeTimelineHTML}} {
			if p.path == "" {
				continue
			}
			write := func(w io.Writer) error { return p.draw(w, target, s, gens, now) }
			if p.path == "-" {
				if err := write(f.IO.Out); err != nil {
					return err
				}
				continue
			}
			if err := writeFileAtomic(p.path, write); err != nil {
				return clierr.WithHint(fmt.Errorf("history: %w", err), clierr.ExitUsage, "name a file in a directory you can write to")
			}
		}
		if !f.JSON {
			return nil
		}
		// --json with pictures written to files: stdout still has the JSON asked for.
	}
	if f.JSON {
		if gens == nil {
			gens = []generationRecord{}
		}
		return cmdkit.WriteJSON(f.IO.Out, historyResult{Session: name, State: s, Generations: gens})
	}
	printHistory(f.IO.Out, target, s, gens)
	return nil
}

func printHistory(w io.Writer, name string, s projector.Session, gens []generationRecord) {
	fmt.Fprintf(w, "@%s: %s, generation %d, %d restart(s), %d crash(es)\n", name, s.Status, s.Generation, s.Restarts, s.Crashes)
	for i, r := range gens {
		fmt.Fprintf(w, "\ngeneration %d  %s  (%sseq %d)\n", r.Generation, r.RequestedAt.Local().Format("2006-01-02 15:04:05.000"), withComma(r.Trigger), r.RequestSeq)
		fmt.Fprintf(w, "  requested by  %s\n", actorText(r.RequestedBy))
		if r.Reason != "" {
			fmt.Fprintf(w, "  reason        %s\n", r.Reason)
		}
		if i > 0 {
			fmt.Fprintf(w, "  previous      %s\n", endText(gens[i-1]))
		}
		if r.PID != 0 {
			line := "bridge pid " + strconv.Itoa(r.PID)
			if !r.ReadyAt.IsZero() {
				line += fmt.Sprintf(", ready after %s", roundDur(r.TimeToReady))
			} else {
				line += ", never ready"
			}
			fmt.Fprintf(w, "  bridge        %s\n", line)
		}
		for _, a := range r.Asks {
			line := fmt.Sprintf("%s %s, %d time(s), last at %s", a.Method, a.Action, a.Count, a.LastAt.Local().Format("15:04:05.000"))
			if a.LastError != "" {
				line += ": " + a.LastError
			}
			fmt.Fprintf(w, "  server asked  %s\n", line)
		}
		if r.Current && r.EndedBy == "" && r.ExitedAt.IsZero() {
			if r.Lifetime > 0 {
				fmt.Fprintf(w, "  running       for %s\n", roundDur(r.Lifetime))
			}
			continue
		}
		fmt.Fprintf(w, "  ended         %s\n", endText(r))
	}
}

func actorText(a events.Actor) string {
	var parts []string
	if a.Command != "" {
		parts = append(parts, strconv.Quote(a.Command))
	}
	if a.PID != 0 {
		parts = append(parts, "pid "+strconv.Itoa(a.PID))
	}
	if a.User != "" {
		parts = append(parts, "user "+a.User)
	}
	if a.Host != "" {
		parts = append(parts, "host "+a.Host)
	}
	if len(parts) == 0 {
		return "unknown"
	}
	return strings.Join(parts, ", ")
}

// endText says how a generation's bridge ended.
func endText(r generationRecord) string {
	var parts []string
	parts = append(parts, r.Problems...)
	if r.Stopping != "" {
		parts = append(parts, "stopping: "+r.Stopping)
	}
	switch {
	case r.ExitCode != nil:
		parts = append(parts, fmt.Sprintf("bridge exited with code %d", *r.ExitCode))
	case r.Signal != "":
		parts = append(parts, "bridge killed (signal "+r.Signal+")")
	case !r.ExitedAt.IsZero():
		parts = append(parts, "bridge exited")
	}
	if r.Lifetime > 0 && !r.ExitedAt.IsZero() {
		parts = append(parts, "after "+roundDur(r.Lifetime)+" ready")
	}
	if r.EndedBy != "" {
		parts = append(parts, "followed by "+r.EndedBy)
	}
	if len(parts) == 0 {
		return "still running"
	}
	return strings.Join(parts, "; ")
}

func roundDur(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(10 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

// withComma is "s, " before what follows it, or nothing for an empty s.
func withComma(s string) string {
	if s == "" {
		return ""
	}
	return s + ", "
}
