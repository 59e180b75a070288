// Package hubd is the hub daemon that mcpctld runs: the embedded JetStream server, the
// projector's follower, the supervisor that spawns, reaps and adopts bridges, the storage guard,
// orphan cleanup at start, and exit when idle.
package hubd
