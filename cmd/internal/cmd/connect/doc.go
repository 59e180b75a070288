// Package connect is `mcpctl connect`: parse a server target (URL, mcp.json entry, or a
// command), write its secrets file, and create the session through the concurrency rule.
package connect
