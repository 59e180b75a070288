package rpc

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
)

// MaxSocketPath is the longest path a Unix socket can be bound to: sun_path holds 108
// bytes including the terminating NUL.
const MaxSocketPath = 107

// FallbackDir is the short directory used when a socket path is too long for sun_path.
func FallbackDir() string { return filepath.Join("/tmp", "mcpctl-"+strconv.Itoa(os.Getuid())) }

// SocketPath returns the path a socket asked for at path is actually bound to: path itself
// when it fits in sun_path, else a name in FallbackDir derived from path (its base name
// when short enough, else a hash of the whole path).
func SocketPath(path string) string {
	if len(path) <= MaxSocketPath {
		return path
	}
	dir := FallbackDir()
	name := filepath.Base(path)
	if len(dir)+1+len(name) > MaxSocketPath {
		sum := sha256.Sum256([]byte(path))
		name = hex.EncodeToString(sum[:12]) + ".sock"
	}
	return filepath.Join(dir, name)
}
