// Package orphans finds the bridge processes of a home that the log does not know (by their
// environment in /proc) and stops them (SIGTERM, then SIGKILL, waiting on a pidfd).
package orphans
