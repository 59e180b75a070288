// Package homedir is the layout of $MCPCTL_HOME: where the store, the hub's files, the
// bridge sockets, the logs and the per-session secrets files live, with which modes, and the
// minimal environment a daemon started from it gets.
package homedir
