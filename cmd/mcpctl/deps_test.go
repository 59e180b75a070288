package main

import (
	"os/exec"
	"strings"
	"testing"
)

// The CLI starts like a Go hello world only if it links no server and no MCP client; the
// daemon runs the hub and the bridges and links none of the CLI's commands. go list reads the
// import graph of the binaries as they are built.
func TestDeps_EachBinaryLinksOnlyItsOwnParts(t *testing.T) {
	// A path ending in "/" forbids everything under it; any other, that package.
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{"github.com/mcpctl/mcpctl/cmd/mcpctl", []string{
			"github.com/nats-io/nats-server/", "github.com/mark3labs/mcp-go/",
			"github.com/mcpctl/mcpctl/events/jetstream/embedded", "github.com/mcpctl/mcpctl/cmd/internal/hubd",
			"github.com/mcpctl/mcpctl/cmd/internal/bridgeproc", "github.com/mcpctl/mcpctl/bridge/supervisor",
		}},
		{"github.com/mcpctl/mcpctl/cmd/mcpctld", []string{
			"github.com/mcpctl/mcpctl/cmd/internal/cli", "github.com/mcpctl/mcpctl/cmd/internal/cmd/",
		}},
	} {
		out, err := exec.Command("go", "list", "-deps", tc.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", tc.pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, bad := range tc.forbidden {
				if dep == bad || strings.HasSuffix(bad, "/") && strings.HasPrefix(dep, bad) {
					t.Errorf("%s links %s", tc.pkg, dep)
				}
			}
		}
	}
}
