// Package doctor is `mcpctl doctor`: checks of the home, the store lock, the hub, the log's
// integrity and the projection, with repairs where one is safe.
package doctor
