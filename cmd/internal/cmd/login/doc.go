// Package login is `mcpctl login`: it authorizes mcpctl at an MCP server's authorization
// server (OAuth 2.1 per the MCP authorization spec) and stores the tokens in a profile that
// the server's sessions use.
package login
