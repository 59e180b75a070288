package remote

// Sessions of other nodes. A session belongs to the node whose hub supervises it; another
// node addresses it as @name@node. Lifecycle requests (restart, close) are appended to the
// log on the session's own subjects, under the same compare-and-set as local ones, and the
// owning node's supervisor acts on them. MCP calls go over NATS request/reply to the bridge,
// on mcpctl.rpc.<node>.<session>, when the session was opened with `connect --remote`.
// Who may call is decided by the NATS server's permissions (docs/cluster.md).

import (
	"encoding/json"
	"time"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// Remote calls.
const (
	rpcPrefix = "mcpctl.rpc"
	// RemoteQueue makes one bridge answer while two generations overlap for a moment.
	RemoteQueue = "bridge"
	// RemoteDeadlineHeader carries the caller's remaining time in milliseconds: the bridge
	// cancels the call upstream when it passes (notifications/cancelled), as a local
	// --timeout does.
	RemoteDeadlineHeader     = "Mcpctl-Deadline-Ms"
	DefaultRemoteCallTimeout = 5 * time.Minute
)

// RPCSubject is the subject a remote-enabled bridge answers MCP requests on.
func RPCSubject(node, session string) string { return rpcPrefix + "." + node + "." + session }

// RemoteRequest and RemoteReply are the messages of a remote call.
type RemoteRequest struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
}

type RemoteReply struct {
	Result json.RawMessage `json:"result,omitempty"`
	Error  *rpc.RPCError   `json:"error,omitempty"`
}
