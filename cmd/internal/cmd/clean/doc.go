// Package clean is `mcpctl clean`: close dead sessions, remove sockets no live bridge owns,
// and stop bridges the log does not know.
package clean
