// Package session is the verbs on one session: info (`mcpctl @s`), restart, close, logs,
// wait, proxy and history.
package session
