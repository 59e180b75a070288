package connect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/ask"
	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/events"
)

// askFlags are the connect flags of the session's policy for server asks.
type askFlags struct {
	elicit   string
	roots    []string
	sampling string
}

// policy validates the flags and returns the policy to store with the session (nil for the
// default) and the elicitation content for the secrets file (nil unless --elicit gives
// one). Error texts never quote the content: it may be as secret as a header.
func (a askFlags) policy() (*events.AskPolicy, json.RawMessage, error) {
	p := &events.AskPolicy{}
	elicit, content, err := ask.ParseElicitFlag(a.elicit)
	if err != nil {
		return nil, nil, err
	}
	if elicit != events.ElicitDecline {
		p.Elicit = elicit // decline, the default, is stored as nothing: it reuses a session connected without it
	}
	for _, r := range a.roots {
		if strings.TrimSpace(r) == "" {
			return nil, nil, clierr.UsageErr("--root: empty directory name")
		}
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, nil, clierr.UsageErr("--root %s: %v", r, err)
		}
		fi, err := os.Stat(abs)
		if err != nil {
			return nil, nil, clierr.UsageErr("--root %s: %v", r, err)
		}
		if !fi.IsDir() {
			return nil, nil, clierr.UsageErr("--root %s: not a directory", r)
		}
		if !slices.Contains(p.Roots, abs) {
			p.Roots = append(p.Roots, abs)
		}
	}
	if a.sampling != "" {
		cmd := strings.TrimSpace(a.sampling)
		if cmd == "" || strings.ContainsRune(cmd, 0) {
			return nil, nil, clierr.UsageErr("--sampling-command: an empty or invalid command")
		}
		p.SamplingCommand = cmd
	}
	if p.Elicit == "" && len(p.Roots) == 0 && p.SamplingCommand == "" {
		return nil, nil, nil
	}
	return p, content, nil
}
