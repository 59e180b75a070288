package bridge

import (
	"context"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// The wire protocol and the socket client live in bridge/rpc, which imports no MCP client
// library: the CLI links only that, and stays small and quick to start. These names keep
// the server side reading as before.
type (
	Message  = rpc.Message
	RPCError = rpc.RPCError
	Client   = rpc.Client
)

var (
	ErrServerLost          = rpc.ErrServerLost
	ErrExpired             = rpc.ErrExpired
	ErrUnauthorized        = rpc.ErrUnauthorized
	ErrUnsupportedProtocol = rpc.ErrUnsupportedProtocol
	ErrUpstreamClosed      = rpc.ErrUpstreamClosed
	ErrDisconnected        = rpc.ErrDisconnected
	ErrPeerRefused         = rpc.ErrPeerRefused
)

const (
	CodeParseError          = rpc.CodeParseError
	CodeInvalidRequest      = rpc.CodeInvalidRequest
	CodeInternalError       = rpc.CodeInternalError
	CodeUpstreamUnavailable = rpc.CodeUpstreamUnavailable
	CodeTooManyConnections  = rpc.CodeTooManyConnections
	DefaultMaxLine          = rpc.DefaultMaxLine
	DefaultMaxConns         = rpc.DefaultMaxConns
)

// Dial connects to a bridge socket (see rpc.Dial).
func Dial(ctx context.Context, path string) (*Client, error) { return rpc.Dial(ctx, path) }

// SocketPath maps a socket path too long for sun_path into FallbackDir (see rpc.SocketPath).
func SocketPath(path string) string { return rpc.SocketPath(path) }

// FallbackDir is the short directory for sockets whose path is too long.
func FallbackDir() string { return rpc.FallbackDir() }
