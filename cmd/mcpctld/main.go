// Command mcpctld is mcpctl's daemon binary: it runs the hub (`mcpctld hub`) and the bridge
// processes (`mcpctld bridge`). mcpctl starts it; install it next to mcpctl.
package main

import (
	"os"

	"github.com/mcpctl/mcpctl/cmd/internal/daemon"
)

func main() { os.Exit(daemon.Main()) }
