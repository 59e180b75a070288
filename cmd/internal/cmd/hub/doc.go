// Package hub is `mcpctl hub start | stop | status | run` (run execs mcpctld, which holds the
// hub itself).
package hub
