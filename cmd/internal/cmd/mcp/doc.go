// Package mcp is the MCP requests on a session: tools-list, tools-get, tools-call,
// resources-*, prompts-*, ping, logging-set-level, complete; with their argument syntax
// (k:=v, inline JSON, JSON on stdin). The list commands, and tools-get, follow the server's
// nextCursor to the last page (listAll), so a paginated server's lists arrive whole.
package mcp
