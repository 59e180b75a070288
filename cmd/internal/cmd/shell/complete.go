package shell

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"
)

// completionTimeout bounds the list requests a Tab makes: the editor waits for them.
const completionTimeout = 10 * time.Second

// completer completes a shell line: the command (first word), then a tool or prompt name,
// then its arguments as k:= from the tool's input schema (or the prompt's arguments).
type completer struct {
	commands []string
	// list fetches a list of the session (tools/list, prompts/list), every page.
	list func(ctx context.Context, method, key string) ([]json.RawMessage, error)

	mu      sync.Mutex
	tools   map[string][]string // tool → argument names, nil until fetched
	prompts map[string][]string
}

// forget drops what was fetched: a new generation may have other tools.
func (c *completer) forget() {
	c.mu.Lock()
	c.tools, c.prompts = nil, nil
	c.mu.Unlock()
}

// Complete returns the candidates for the word the line ends in (the whole word, not
// only its rest), and whether a space should follow a unique one.
func (c *completer) Complete(ctx context.Context, line string) (cands []string, space bool) {
	words, open, inWord := split(line)
	if open != 0 {
		return nil, false
	}
	word := ""
	if inWord && len(words) > 0 {
		word, words = words[len(words)-1], words[:len(words)-1]
	}
	if len(words) > 0 && strings.HasPrefix(words[0], "@") {
		words = words[1:] // an explicit session: complete as for the preset one
	}
	switch {
	case len(words) == 0:
		return filter(c.commands, word), true
	case len(words) == 1 && (words[0] == "tools-call" || words[0] == "tools-get"):
		return filter(keys(c.fetch(ctx, "tools")), word), true
	case len(words) == 1 && words[0] == "prompts-get":
		return filter(keys(c.fetch(ctx, "prompts")), word), true
	case len(words) >= 2 && (words[0] == "tools-call" || words[0] == "prompts-get"):
		kind := "tools"
		if words[0] == "prompts-get" {
			kind = "prompts"
		}
		given := map[string]bool{}
		for _, w := range words[2:] {
			if k, _, ok := strings.Cut(w, ":="); ok {
				given[k] = true
			} else if k, _, ok := strings.Cut(w, "="); ok {
				given[k] = true
			}
		}
		var out []string
		for _, a := range c.fetch(ctx, kind)[words[1]] {
			if !given[a] {
				out = append(out, a+":=")
			}
		}
		return filter(out, word), false
	}
	return nil, false
}

// fetch returns the tools or prompts with their argument names, fetching them once.
func (c *completer) fetch(ctx context.Context, kind string) map[string][]string {
	c.mu.Lock()
	have := c.tools
	if kind == "prompts" {
		have = c.prompts
	}
	c.mu.Unlock()
	if have != nil {
		return have
	}
	got := map[string][]string{}
	method := "tools/list"
	if kind == "prompts" {
		method = "prompts/list"
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	items, err := c.list(ctx, method, kind)
	if err != nil {
		return got // not cached: the next tab asks again
	}
	for _, raw := range items {
		var it struct {
			Name        string `json:"name"`
			InputSchema struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"inputSchema"`
			Arguments []struct {
				Name string `json:"name"`
			} `json:"arguments"`
		}
		if json.Unmarshal(raw, &it) != nil || it.Name == "" {
			continue
		}
		var args []string
		for k := range it.InputSchema.Properties {
			args = append(args, k)
		}
		for _, a := range it.Arguments {
			args = append(args, a.Name)
		}
		sort.Strings(args)
		got[it.Name] = args
	}
	c.mu.Lock()
	if kind == "prompts" {
		c.prompts = got
	} else {
		c.tools = got
	}
	c.mu.Unlock()
	return got
}

func keys(m map[string][]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// filter keeps the candidates that start with prefix.
func filter(cands []string, prefix string) []string {
	var out []string
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}
