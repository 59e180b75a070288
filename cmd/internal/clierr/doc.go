// Package clierr is the command line's typed errors: Error carries an exit code (0 ok, 1
// usage or client error, 2 server error, 3 network or bridge error, 4 authentication) and a
// Try: hint; Print writes one the way the user asked (text, or JSON on stderr).
package clierr
