package bridge

import (
	"encoding/json"
	"errors"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// upstreamError turns an error from Upstream.Call that is not a JSON-RPC error into the
// error object a socket client receives.
func upstreamError(err error) *rpc.RPCError {
	reason := rpc.ReasonError
	switch {
	case errors.Is(err, rpc.ErrExpired):
		reason = rpc.ReasonExpired
	case errors.Is(err, rpc.ErrUnauthorized):
		reason = rpc.ReasonUnauthorized
	case errors.Is(err, rpc.ErrServerLost), errors.Is(err, rpc.ErrUpstreamClosed):
		reason = rpc.ReasonServerLost
	}
	data, _ := json.Marshal(struct {
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	}{reason, err.Error()})
	return &rpc.RPCError{Code: rpc.CodeUpstreamUnavailable, Message: "mcp server unavailable: " + err.Error(), Data: data}
}
