package bridge

import (
	"slices"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/mcpctl/mcpctl/bridge/rpc"
)

// The CLI validates --protocol against rpc.ProtocolVersions, which must be what the bridge
// (through mcp-go) can negotiate.
func TestProtocolVersions_AreTheOnesMCPGoSpeaks(t *testing.T) {
	if got, want := rpc.ProtocolVersions(), mcp.ValidProtocolVersions; !slices.Equal(got, want) {
		t.Errorf("rpc.ProtocolVersions() = %v, want mcp-go's %v", got, want)
	}
}
