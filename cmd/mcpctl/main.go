// Command mcpctl keeps named, persistent sessions to MCP servers. It is the command line
// only: the hub and the bridges run from mcpctld, installed next to it.
package main

import (
	"os"

	"github.com/mcpctl/mcpctl/cmd/internal/cli"
)

func main() { os.Exit(cli.Main()) }
