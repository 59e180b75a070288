// Package events is mcpctl's vocabulary: the lifecycle events of a session, the subjects they
// are stored under, the validation of names that reach subjects and paths, the errors callers
// branch on, and the small Log interface the projector, the bridge and the CLI depend on.
// It imports no NATS: the JetStream implementation lives in events/jetstream.
package events

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// SchemaVersion is the version of the event payload this build writes. Readers skip (and
// count) events with a newer version rather than guess at their meaning.
const SchemaVersion = 1

// Kind names what happened. A name is never reused with another meaning.
type Kind string

// The lifecycle kinds, in the order a session usually sees them.
const (
	// KindCreated opens a session and requests its first generation.
	KindCreated Kind = "created"
	// KindRestartRequested asks for generation g+1. Only the first request for g+1 wins.
	KindRestartRequested Kind = "restart_requested"
	// KindBridgeSpawned records the bridge process started for a generation.
	KindBridgeSpawned Kind = "bridge_spawned"
	// KindBridgeReady says the bridge holds an initialized MCP connection and listens.
	KindBridgeReady Kind = "bridge_ready"
	// KindBridgeStopping says a bridge is shutting down, and why.
	KindBridgeStopping Kind = "bridge_stopping"
	// KindBridgeExited records a reaped (or found dead) bridge process.
	KindBridgeExited Kind = "bridge_exited"
	// KindServerLost says the bridge lost its MCP server (process exited, connection broke).
	KindServerLost Kind = "server_lost"
	// KindExpired says the server no longer knows the MCP session (HTTP 404, or 400 "unknown session").
	KindExpired Kind = "expired"
	// KindUnauthorized says the server refused the credentials (HTTP 401/403).
	KindUnauthorized Kind = "unauthorized"
	// KindFailed says the supervisor gave up restarting the session (policy or burst limit).
	KindFailed Kind = "failed"
	// KindSpawnFailed says the supervisor could not start a bridge process at all.
	KindSpawnFailed Kind = "spawn_failed"
	// KindClosed ends a session on purpose. Its bridges exit.
	KindClosed Kind = "closed"
	// KindCleaned removes a closed or dead session from the listing; its name is free again.
	KindCleaned Kind = "cleaned"
	// KindServerAsked records that the server asked the client something (elicitation,
	// roots, sampling) and what became of it: the method, the action and the time taken,
	// never the values. It changes no session state.
	KindServerAsked Kind = "server_asked"
	// KindTokenRefreshed records that the session's bridge refreshed the OAuth access token
	// of the profile it authorizes with: the profile, the server's origin, the scopes and
	// the new expiry, never a token. It changes no session state. (Only the refresh that
	// took effect is recorded: the other holders of the profile pick its token up.)
	KindTokenRefreshed Kind = "token_refreshed"
	// KindLoggedIn and KindLoggedOut record a `mcpctl login` and `logout`: the profile,
	// the server's origin, the scopes and the expiry, never a token. A profile belongs to
	// no session: they are recorded under the reserved name ProfilesSession, which no
	// session can have, and change no session's state.
	KindLoggedIn  Kind = "logged_in"
	KindLoggedOut Kind = "logged_out"
	// KindTaskCreated, KindTaskStatus and KindTaskFinished follow an MCP task (a
	// task-augmented tools/call) of the session: the server created it, its status changed
	// (working, input_required), it reached a terminal status (completed, failed, cancelled)
	// or was lost (the server no longer knows it). Written by the bridge, which sees the
	// CreateTaskResult, the status notifications and every tasks/* answer. They carry the
	// task id, the tool, the status and its message, never arguments or results, and change
	// no session state.
	KindTaskCreated  Kind = "task_created"
	KindTaskStatus   Kind = "task_status"
	KindTaskFinished Kind = "task_finished"
)

// ProfilesSession is the reserved session name of the events about OAuth profiles
// (logged_in, logged_out): `mcpctl events --session _profiles` shows them.
const ProfilesSession = "_profiles"

// Kinds lists every kind this build knows, for validation and help texts.
var kinds = []Kind{
	KindCreated, KindRestartRequested, KindBridgeSpawned, KindBridgeReady, KindBridgeStopping,
	KindBridgeExited, KindServerLost, KindExpired, KindUnauthorized, KindFailed, KindSpawnFailed,
	KindClosed, KindCleaned, KindServerAsked, KindTokenRefreshed, KindLoggedIn, KindLoggedOut,
	KindTaskCreated, KindTaskStatus, KindTaskFinished,
}

// IsTask reports whether k is one of the task kinds.
func (k Kind) IsTask() bool {
	return k == KindTaskCreated || k == KindTaskStatus || k == KindTaskFinished
}

// TaskLost is the task_status of a task_finished whose task the server no longer knows:
// its process died with a stdio bridge, or it expired. Not an MCP status.
const TaskLost = "lost"

// Kinds returns every kind this build knows, in lifecycle order.
func Kinds() []Kind { return append([]Kind(nil), kinds...) }

// Known reports whether k is a kind this build understands.
func (k Kind) Known() bool {
	for _, known := range kinds {
		if k == known {
			return true
		}
	}
	return false
}

// Actor says who caused an event: the process that appended it.
type Actor struct {
	PID     int    `json:"pid"`
	Host    string `json:"host,omitempty"`
	User    string `json:"user,omitempty"`
	Command string `json:"command,omitempty"`
}

// Transport is how a bridge reaches its MCP server.
type Transport string

// The transports a session can use.
const (
	TransportStdio Transport = "stdio"
	TransportHTTP  Transport = "http" // Streamable HTTP
	TransportSSE   Transport = "sse"  // legacy HTTP+SSE
)

// RestartPolicy says what the supervisor does when a bridge dies on its own.
type RestartPolicy string

// The restart policies.
const (
	RestartOnFailure RestartPolicy = "on-failure" // default: restart after a crash, not after a clean exit
	RestartAlways    RestartPolicy = "always"
	RestartNever     RestartPolicy = "never"
)

// Valid reports whether p is a known policy.
func (p RestartPolicy) Valid() bool {
	switch p {
	case RestartOnFailure, RestartAlways, RestartNever:
		return true
	}
	return false
}

// Server describes the MCP server a session talks to. It carries names only: header and
// environment values are secrets and live in the session's 0600 secrets file, never here.
type Server struct {
	Transport Transport `json:"transport"`
	URL       string    `json:"url,omitempty"`
	Command   string    `json:"command,omitempty"`
	Args      []string  `json:"args,omitempty"`
	Cwd       string    `json:"cwd,omitempty"`
	// HeaderNames and EnvNames list the names whose values are in the secrets file.
	HeaderNames []string `json:"header_names,omitempty"`
	EnvNames    []string `json:"env_names,omitempty"`
	// Protocol pins the MCP protocol version; empty means the default for the transport.
	Protocol string `json:"protocol,omitempty"`
	// Source names where the definition came from (a config file and entry), for humans.
	Source string `json:"source,omitempty"`
	// Secrets names the 0600 file (under $MCPCTL_HOME/secrets) holding the header and env
	// values of this session's generation of secrets. A reference, never the values.
	Secrets string `json:"secrets,omitempty"`
	// Remote lets other nodes call the session over NATS (connect --remote): its bridge
	// answers on mcpctl.rpc.<node>.<session>, to whoever the NATS permissions let publish there.
	Remote bool `json:"remote,omitempty"`
	// Asks is how the bridge answers the server's requests (connect --elicit, --root,
	// --sampling-command); nil is the default policy: decline elicitations, no roots, no
	// sampling.
	Asks *AskPolicy `json:"asks,omitempty"`
}

// ElicitPolicy is how a session answers an elicitation by itself (connect --elicit).
type ElicitPolicy string

// The elicitation policies. The default (empty) declines.
const (
	ElicitDecline  ElicitPolicy = "decline"
	ElicitCancel   ElicitPolicy = "cancel"
	ElicitDefaults ElicitPolicy = "defaults" // accept with the schema's defaults
	// ElicitContent accepts with the content given at connect, which is kept in the
	// session's secrets file, never in an event.
	ElicitContent ElicitPolicy = "content"
)

// Valid reports whether p is a known policy ("" is the default, decline).
func (p ElicitPolicy) Valid() bool {
	switch p {
	case "", ElicitDecline, ElicitCancel, ElicitDefaults, ElicitContent:
		return true
	}
	return false
}

// AskPolicy is a session's policy for the requests its server sends to the client.
type AskPolicy struct {
	// Elicit answers elicitation/create ("" or decline by default).
	Elicit ElicitPolicy `json:"elicit,omitempty"`
	// Roots are the absolute directories roots/list answers with (file:// URIs); with
	// none the roots capability is not declared.
	Roots []string `json:"roots,omitempty"`
	// SamplingCommand is run by a shell for each sampling/createMessage, with the request
	// as JSON on stdin; its JSON stdout is the result. Empty: sampling is not declared.
	SamplingCommand string `json:"sampling_command,omitempty"`
}

// Event is one lifecycle fact about one session. Fields after Actor are kind-specific and
// omitted when empty; docs/events.md lists which kinds carry which.
type Event struct {
	V          int       `json:"v"`
	Type       Kind      `json:"type"`
	Node       string    `json:"node"`
	Session    string    `json:"session"`
	Generation uint64    `json:"generation"`
	Time       time.Time `json:"time"`
	Actor      Actor     `json:"actor"`

	// Seq is the event's JetStream sequence, its identity. It is set by the log on read and
	// never stored in the payload itself.
	Seq uint64 `json:"seq,omitempty"`

	// created
	Server  *Server       `json:"server,omitempty"`
	Restart RestartPolicy `json:"restart,omitempty"`

	// restart_requested, bridge_stopping, failed, closed, cleaned, …: why it happened.
	Reason string `json:"reason,omitempty"`
	// restart_requested: start a new MCP session (and end the old one) instead of resuming
	// the previous Streamable HTTP session. Explicit restarts set it; policy and implicit
	// restarts after a crash resume.
	Fresh bool `json:"fresh,omitempty"`

	// bridge_spawned, bridge_exited
	PID          int    `json:"pid,omitempty"`
	PIDStartTime uint64 `json:"pid_start_time,omitempty"`
	Socket       string `json:"socket,omitempty"`

	// bridge_exited
	Code   *int   `json:"code,omitempty"`
	Signal string `json:"signal,omitempty"`

	// bridge_ready: what the server said about itself, and the HTTP session to resume.
	ServerName      string `json:"server_name,omitempty"`
	ServerVersion   string `json:"server_version,omitempty"`
	ProtocolVersion string `json:"protocol_version,omitempty"`
	MCPSessionID    string `json:"mcp_session_id,omitempty"`

	// server_lost, spawn_failed, expired, unauthorized: the error, as text. server_asked:
	// why the ask failed or was refused.
	Error string `json:"error,omitempty"`

	// server_asked: the method the server sent (elicitation/create, roots/list,
	// sampling/createMessage), what became of it (accept, decline, cancel, answered,
	// error) and how long answering took. Never the values.
	Method     string `json:"method,omitempty"`
	Action     string `json:"action,omitempty"`
	DurationMS int64  `json:"duration_ms,omitempty"`

	// token_refreshed: the OAuth profile, the origin of the server it authorizes at, the
	// token's scopes and its expiry. unauthorized, of a session on an OAuth profile: the
	// profile, the origin and the scopes the server asked for. Never a token.
	Profile string    `json:"profile,omitempty"`
	Origin  string    `json:"origin,omitempty"`
	Scopes  []string  `json:"scopes,omitempty"`
	Expiry  time.Time `json:"expiry,omitzero"`

	// task_created, task_status, task_finished: the MCP task id, the tool it runs, its
	// status (working, input_required, completed, failed, cancelled, or lost) and the
	// server's status message. task_finished of a failed or lost task: error.
	TaskID        string `json:"task_id,omitempty"`
	Tool          string `json:"tool,omitempty"`
	TaskStatus    string `json:"task_status,omitempty"`
	StatusMessage string `json:"status_message,omitempty"`
}

// Subject returns the subject the event is stored under.
func (e Event) Subject() string { return Subject(e.Node, e.Session, e.Type) }

// Validate checks what every event must carry before it may be appended.
func (e Event) Validate() error {
	if e.V < 1 {
		return fmt.Errorf("%w: schema version %d", ErrInvalidEvent, e.V)
	}
	if err := ValidateNode(e.Node); err != nil {
		return err
	}
	if err := ValidateSession(e.Session); err != nil {
		return err
	}
	if !e.Type.Known() {
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidEvent, e.Type)
	}
	if e.Time.IsZero() {
		return fmt.Errorf("%w: no time", ErrInvalidEvent)
	}
	if e.Type == KindCreated && e.Server == nil {
		return fmt.Errorf("%w: created without a server", ErrInvalidEvent)
	}
	if (e.Session == ProfilesSession) != (e.Type == KindLoggedIn || e.Type == KindLoggedOut) {
		return fmt.Errorf("%w: %s under %s (profile events, and only they, are recorded there)", ErrInvalidEvent, e.Type, e.Session)
	}
	if e.Type.IsTask() && (e.TaskID == "" || e.TaskStatus == "") {
		return fmt.Errorf("%w: %s without a task id or status", ErrInvalidEvent, e.Type)
	}
	if (e.Type == KindCreated || e.Type == KindRestartRequested) && e.Generation == 0 {
		// Generations start at 1; 0 is what g+1 wraps around to after the largest.
		return fmt.Errorf("%w: %s at generation 0", ErrInvalidEvent, e.Type)
	}
	return nil
}

// NextGeneration is the generation after g: what a restart or a re-create asks for. After
// the largest generation there is none, and generations never go backwards, so the answer
// is ErrGenerationsExhausted rather than a wrap to 0.
func NextGeneration(g uint64) (uint64, error) {
	if g == math.MaxUint64 {
		return 0, fmt.Errorf("%w (%d)", ErrGenerationsExhausted, g)
	}
	return g + 1, nil
}

// Marshal encodes the event for storage. Seq is not part of the stored payload.
func (e Event) Marshal() ([]byte, error) {
	e.Seq = 0
	return json.Marshal(e)
}

// Unmarshal decodes a stored payload. It never panics on garbage; it reports an error
// wrapping ErrInvalidEvent.
func Unmarshal(data []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(data, &e); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	return e, nil
}

// New returns an event of kind k for node/session with the current time, schema version and
// this process as actor.
func New(k Kind, node, session string, generation uint64) Event {
	return Event{
		V:          SchemaVersion,
		Type:       k,
		Node:       node,
		Session:    session,
		Generation: generation,
		Time:       time.Now().UTC(),
		Actor:      Self(),
	}
}
