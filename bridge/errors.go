package bridge

import (
	"encoding/json"
	"errors"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// upstreamError turns an error from Upstream.Call that is not a JSON-RPC error into the
// error object a socket client receives.
func upstreamError(err error) *RPCError {
	reason := rpc.ReasonError
	switch {
	case errors.Is(err, ErrExpired):
		reason = rpc.ReasonExpired
	case errors.Is(err, ErrUnauthorized):
		reason = rpc.ReasonUnauthorized
	case errors.Is(err, ErrServerLost), errors.Is(err, ErrUpstreamClosed):
		reason = rpc.ReasonServerLost
	}
	data, _ := json.Marshal(struct {
		Reason string `json:"reason"`
		Detail string `json:"detail"`
	}{reason, err.Error()})
	return &RPCError{Code: CodeUpstreamUnavailable, Message: "mcp server unavailable: " + err.Error(), Data: data}
}
