// Command mcpctl keeps named, persistent sessions to MCP servers. See cmd/cli.
package main

import (
	"os"

	"github.com/mcpctl/mcpctl/cmd/cli"
)

func main() { os.Exit(cli.Main()) }
