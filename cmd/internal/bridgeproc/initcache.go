package bridgeproc

import (
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"

	"encoding/json"
	"errors"
	"os"
	"path/filepath"
)

// The initialize cache lets the bridge of a new generation resume a Streamable HTTP session
// after a crash: resuming skips the handshake, so the result the server gave the previous
// bridge is kept next to the sockets (0600; it holds the server's capabilities and
// instructions, nothing of the user's).
type initCache struct {
	MCPSessionID string          `json:"mcp_session_id"`
	Initialize   json.RawMessage `json:"initialize"`
	// Roots are the roots the session declared to that MCP session: a bridge that
	// resumes it with other roots tells the server they changed.
	Roots []string `json:"roots,omitempty"`
}

func initCachePath(home homedir.Home, session string) string {
	return filepath.Join(home.BridgeDir(), session+".init.json")
}

func writeInitCache(home homedir.Home, session, id string, init json.RawMessage, roots []string) error {
	b, err := json.Marshal(initCache{MCPSessionID: id, Initialize: init, Roots: roots})
	if err != nil {
		return err
	}
	dir := home.BridgeDir()
	tmp, err := os.CreateTemp(dir, ".init-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), initCachePath(home, session))
}

func readInitCache(home homedir.Home, session, id string) (initCache, error) {
	b, err := os.ReadFile(initCachePath(home, session))
	if err != nil {
		return initCache{}, err
	}
	var c initCache
	if err := json.Unmarshal(b, &c); err != nil {
		return initCache{}, err
	}
	if c.MCPSessionID != id || len(c.Initialize) == 0 {
		return initCache{}, errors.New("initialize cache is of another MCP session")
	}
	return c, nil
}
