// Package bridge is the heart of the bridge process: it holds one MCP client connection to a
// server (stdio, Streamable HTTP or legacy SSE) behind the small Upstream interface, and serves
// MCP JSON-RPC to local clients on a Unix socket (Server). Bridge ties an Upstream and a
// Server together for one session generation. The wire protocol, the socket path rule and
// the Client the CLI calls through the socket live in bridge/rpc, which links no MCP
// library.
//
//	mcpctl CLI ──rpc.Client──► unix socket (0600, peer uid checked) ──Server──► Upstream ──► MCP server
//	                                                             ▲                  │
//	                                                             └── notifications ─┘──► OnNotification hook
//
// The bridge forwards requests as raw JSON: any method (tools/*, resources/*, prompts/*,
// completion/complete, logging/setLevel, ping, …) reaches the server unchanged, results and
// JSON-RPC errors come back verbatim. It never imports NATS: the event-log wiring is done by
// the caller through hooks (Config.OnNotification, Config.AnswerInput for what a
// 2026-07-28 server asks for mid-request, Done/Err, the accessors for bridge_ready).
package bridge
