// Package projector folds the event log into the current state of every session. Apply is
// the single definition of session state: the hub runs it live and materializes the result
// into a KV bucket (Follower, Store), and the CLI's --at time travel, doctor and the tests
// run the same fold. RequestRestart and RequestClose are the restart and close requests
// under the concurrency rule: decide from the folded state, append conditionally, and on a
// lost compare-and-set Refresh and decide again.
package projector

import (
	"time"

	"github.com/mcpctl/mcpctl/events"
)

// Status is where a session stands.
type Status string

// Session statuses.
const (
	StatusStarting     Status = "starting"     // a generation was requested (created) and is not ready yet
	StatusReady        Status = "ready"        // the current generation's bridge is ready
	StatusRestarting   Status = "restarting"   // a newer generation was requested after an earlier one
	StatusCrashed      Status = "crashed"      // the current generation's bridge or server died
	StatusFailed       Status = "failed"       // the supervisor gave up restarting
	StatusExpired      Status = "expired"      // the server no longer knows the MCP session
	StatusUnauthorized Status = "unauthorized" // the server refused the credentials
	StatusClosed       Status = "closed"       // closed on purpose
)

// Live reports whether a bridge is wanted for this status (a request or a running bridge).
func (s Status) Live() bool {
	return s == StatusStarting || s == StatusReady || s == StatusRestarting
}

// Bridge is the process serving one generation.
type Bridge struct {
	Generation   uint64 `json:"generation"`
	PID          int    `json:"pid"`
	PIDStartTime uint64 `json:"pid_start_time"`
	Socket       string `json:"socket"`
	SpawnedSeq   uint64 `json:"spawned_seq"`
}

// Exit records how a generation's bridge ended.
type Exit struct {
	Generation uint64    `json:"generation"`
	Code       *int      `json:"code,omitempty"`
	Signal     string    `json:"signal,omitempty"`
	Time       time.Time `json:"time"`
	Reason     string    `json:"reason,omitempty"`
}

// Session is the folded state of one session. It is a value: Apply never mutates its input,
// and slices inside it (Server.Args, …) are replaced, never appended to in place.
type Session struct {
	Node    string `json:"node"`
	Name    string `json:"session"`
	Status  Status `json:"status"`
	Cleaned bool   `json:"cleaned,omitempty"` // removed by clean: hidden from listings, name free

	// Generation is the newest generation requested. Bridge is set only while it belongs to
	// Generation: an event about an older generation never changes a newer one.
	Generation uint64  `json:"generation"`
	Bridge     *Bridge `json:"bridge,omitempty"`

	Server  events.Server        `json:"server"`
	Restart events.RestartPolicy `json:"restart"`

	// From the current generation's bridge_ready.
	ServerName      string `json:"server_name,omitempty"`
	ServerVersion   string `json:"server_version,omitempty"`
	ProtocolVersion string `json:"protocol_version,omitempty"`
	MCPSessionID    string `json:"mcp_session_id,omitempty"`

	// Why the current generation was requested, and by whom.
	Reason      string       `json:"reason,omitempty"`
	RequestedBy events.Actor `json:"requested_by"`
	RequestSeq  uint64       `json:"request_seq"` // seq of the created/restart_requested of Generation
	RequestedAt time.Time    `json:"requested_at,omitzero"`
	// Fresh: the current generation must start a new MCP session rather than resume
	// MCPSessionID (an explicit restart, or a new session).
	Fresh bool `json:"fresh,omitempty"`

	LastExit *Exit  `json:"last_exit,omitempty"`
	Error    string `json:"error,omitempty"` // last server_lost/expired/unauthorized/failed text

	// Crashes counts bridge deaths of current generations that nobody asked for, since the
	// session was created; Restarts counts restart requests.
	Crashes  int `json:"crashes"`
	Restarts int `json:"restarts"`
	// Readies counts generations that became ready since the session was created: a session
	// that never worked is not restarted by policy (connect reports the failure instead).
	Readies int `json:"readies"`

	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// ReadyAt is when the current generation became ready (zero: not ready).
	ReadyAt time.Time `json:"ready_at,omitzero"`

	// LastSeq is the sequence of the last event on this session's subjects, applied or not:
	// it is the expectation of the next conditional append.
	LastSeq uint64 `json:"last_seq"`
}
