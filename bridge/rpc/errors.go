package rpc

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Sentinel errors. Upstream.Err, Bridge.Err and the errors a Client returns wrap these, so
// callers branch with errors.Is and the CLI maps them to exit codes.
var (
	// ErrServerLost: the MCP server is gone (stdio process exited, connection broke, pings
	// kept failing).
	ErrServerLost = errors.New("mcp server lost")
	// ErrExpired: the server no longer knows the MCP session (HTTP 404, or 400 saying the
	// session is unknown). Re-initialize in a new generation.
	ErrExpired = errors.New("mcp session expired")
	// ErrUnauthorized: the server refused the credentials (HTTP 401 or 403).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrUnsupportedProtocol: a protocol version the bridge cannot forward raw (2026-07-28
	// and later carry per-request metadata the bridge does not add).
	ErrUnsupportedProtocol = errors.New("unsupported protocol version")
	// ErrUpstreamClosed: the upstream was closed on purpose.
	ErrUpstreamClosed = errors.New("upstream closed")
	// ErrDisconnected: the socket connection to the bridge ended.
	ErrDisconnected = errors.New("bridge connection closed")
	// ErrPeerRefused: a socket peer of another uid.
	ErrPeerRefused = errors.New("peer refused")
)

// JSON-RPC error codes the bridge itself answers with.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	// CodeUpstreamUnavailable: the bridge could not get an answer from the server. Its data
	// is {"reason": "server_lost"|"expired"|"unauthorized"|"error", "detail": "..."} and
	// RPCError unwraps to the matching sentinel.
	CodeUpstreamUnavailable = -32001
	// CodeTooManyConnections: the bridge refused a connection over its limit (sent with a
	// null id; a server's -32002 "resource not found" carries its request's id).
	CodeTooManyConnections = -32002
)

// RPCError is a JSON-RPC error object, from the server (passed through verbatim) or from
// the bridge (CodeUpstreamUnavailable, CodeTooManyConnections, the JSON-RPC codes).
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data,omitempty"`
}

func (e *RPCError) Error() string {
	if len(e.Data) > 0 && e.Code != CodeUpstreamUnavailable {
		return fmt.Sprintf("json-rpc error %d: %s (data: %s)", e.Code, e.Message, e.Data)
	}
	return fmt.Sprintf("json-rpc error %d: %s", e.Code, e.Message)
}

// Unwrap maps the bridge's own upstream errors back to the sentinels, so that
// errors.Is(err, ErrExpired) holds on the CLI side of the socket too.
func (e *RPCError) Unwrap() error {
	switch e.Code {
	case CodeUpstreamUnavailable:
		var d struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(e.Data, &d)
		switch d.Reason {
		case ReasonServerLost:
			return ErrServerLost
		case ReasonExpired:
			return ErrExpired
		case ReasonUnauthorized:
			return ErrUnauthorized
		}
	}
	// CodeTooManyConnections is not mapped: MCP servers answer "resource not found" with
	// the same code (-32002). The bridge's own refusal arrives without a request id and the
	// Client reports it as ErrDisconnected wrapping this error.
	return nil
}

// The reasons in CodeUpstreamUnavailable's data.
const (
	ReasonServerLost   = "server_lost"
	ReasonExpired      = "expired"
	ReasonUnauthorized = "unauthorized"
	ReasonError        = "error"
)
