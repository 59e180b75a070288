package bridge

import (
	"slices"
	"testing"
	"time"

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

// A first connect bounds the probe (a server may ignore server/discover); a modern revision
// the session pinned or already negotiated is waited for, so a slow start of a 2026-07-28
// server is not taken for a legacy server.
func TestDiscoverTimeout_OnlyAFirstConnectIsBounded(t *testing.T) {
	for _, tc := range []struct {
		cfg      Config
		protocol string
		want     time.Duration
	}{
		{Config{}, "", 0},
		{Config{}, "2025-11-25", 0},
		{Config{KnownProtocol: "2026-07-28"}, "2026-07-28", -1},
		{Config{Protocol: "2026-07-28"}, "2026-07-28", -1},
		{Config{DiscoverTimeout: 300 * time.Millisecond, KnownProtocol: "2026-07-28"}, "2026-07-28", 300 * time.Millisecond},
	} {
		if got := (&Bridge{cfg: tc.cfg}).discoverTimeout(tc.protocol); got != tc.want {
			t.Errorf("discoverTimeout(%q) with %+v = %v, want %v", tc.protocol, tc.cfg, got, tc.want)
		}
	}
}
