// Package remote is the wire of calls to a session on another node: the NATS subject a
// bridge answers on, the request and reply, the deadline header, and the bridge's answerer.
package remote
