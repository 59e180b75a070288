package events

import (
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
)

func TestEventsParse_AfterTheLargestSequenceIsRefused(t *testing.T) {
	for _, flag := range []string{"--after-seq", "--after-notify-seq"} {
		io, out, _ := cmdkit.Test("")
		cmd := NewCmdEvents(cmdkit.NewFactory(io))
		cmd.SetArgs([]string{flag, "18446744073709551615"})
		cmd.SilenceErrors, cmd.SilenceUsage = true, true
		err := cmd.Execute()
		if code := clierr.ExitCode(err); code != clierr.ExitUsage || out.Len() != 0 || err == nil || !strings.Contains(err.Error(), "no event can come after the largest sequence") {
			t.Errorf("events %s 2^64-1: exit %d, stdout %q, err %v", flag, code, out, err)
		}
	}
}
