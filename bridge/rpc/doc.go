// Package rpc is the bridge socket's wire protocol as both ends use it: newline-delimited
// JSON-RPC messages (Message, RPCError and the Append* encoders), the errors a bridge
// reports and their codes, the socket path rule (SocketPath, with a short fallback
// directory when a path would not fit the 108-byte sun_path), and the Client the CLI
// calls a bridge with (Dial).
//
// It imports no MCP client library and no NATS, so the CLI links only this and stays
// small and quick to start; the server side lives in package bridge.
package rpc
