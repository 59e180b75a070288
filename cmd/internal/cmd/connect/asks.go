package connect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

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
	var content json.RawMessage
	switch v := strings.TrimSpace(a.elicit); {
	case v == "" || v == string(events.ElicitDecline):
		// the default: stored as nothing, so that it reuses a session connected without it
	case v == string(events.ElicitCancel), v == string(events.ElicitDefaults):
		p.Elicit = events.ElicitPolicy(v)
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return nil, nil, clierr.UsageErr("--elicit %s: %v", v, err)
		}
		if content, err = elicitObject(b); err != nil {
			return nil, nil, clierr.UsageErr("--elicit %s: %v", v, err)
		}
		p.Elicit = events.ElicitContent
	case strings.HasPrefix(v, "{"):
		var err error
		if content, err = elicitObject([]byte(v)); err != nil {
			return nil, nil, clierr.UsageErr("--elicit JSON: %v", err)
		}
		p.Elicit = events.ElicitContent
	default:
		return nil, nil, clierr.WithHint(fmt.Errorf("--elicit: not decline, cancel, defaults, a JSON object or @file.json"), clierr.ExitUsage,
			`--elicit defaults, --elicit '{"name":"x"}' or --elicit @answer.json`)
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

// elicitObject checks that b is one JSON object (the content of an accepted elicitation)
// and returns it compacted.
func elicitObject(b []byte) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return out.Bytes(), nil
}
