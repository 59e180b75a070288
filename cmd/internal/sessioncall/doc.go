// Package sessioncall is how a command reaches a session: load it from the projection,
// restart a stopped bridge through the concurrency rule (joining a restart already asked for),
// wait for it, call its socket (or its node, for @name@node), and turn failures into exit codes.
package sessioncall
