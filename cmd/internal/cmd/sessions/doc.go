// Package sessions is `mcpctl sessions` (and `mcpctl` alone): the sessions of this node, now
// or as they were at a past time or sequence.
package sessions
