// Package shell is `mcpctl @s shell`: an interactive prompt on one session. Each line is
// split as a shell would split it and run through the same command tree as mcpctl's own
// arguments, with the session preset; the session's events are printed as they happen.
package shell
