// Package cmdkit is what every mcpctl and mcpctld command is built from: the Factory that
// hands out dependencies lazily (so --help and --version start nothing), the IO streams (with
// Test buffers), the global flags and the session-first grammar, and Run, which runs a command
// tree with signals handled once and maps errors to exit codes in one place.
package cmdkit
