package rpc

import "slices"

// ProtocolVersions are the MCP revisions a bridge speaks, newest first. The CLI checks
// `connect --protocol` against them without linking an MCP library; bridge's tests keep the
// list equal to mcp-go's.
func ProtocolVersions() []string {
	return []string{"2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}
}

// KnownProtocol reports whether v is one of ProtocolVersions.
func KnownProtocol(v string) bool { return slices.Contains(ProtocolVersions(), v) }
