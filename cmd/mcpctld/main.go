// Command mcpctld is the bridge process: the hub runs `mcpctld bridge --session S
// --generation G` for every session generation. It is a binary of its own so that mcpctl,
// which every shell call starts, links no MCP client library. Install it next to mcpctl.
package main

import (
	"os"

	"github.com/mcpctl/mcpctl/cmd/cli"
	"github.com/mcpctl/mcpctl/cmd/cli/bridgeproc"
)

func main() { os.Exit(cli.Main(bridgeproc.NewCmd)) }
