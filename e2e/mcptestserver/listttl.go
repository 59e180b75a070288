package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// listTTLOptions mark the server's list results cacheable (--list-ttl,
// --list-cache-scope): on protocol 2026-07-28 (--modern) tools/list, prompts/list,
// resources/list and resources/templates/list carry ttlMs and cacheScope (SEP-2549), so
// that clients, the bridge among them, may answer them from a cache. Earlier revisions
// never carry the hints. The zero value leaves mcp-go's default: ttlMs 0, private.
type listTTLOptions struct {
	ttl   time.Duration
	scope mcp.CacheScope
}

func (o *listTTLOptions) register(fs *flag.FlagSet) {
	o.scope = mcp.CacheScopePrivate
	fs.Func("list-ttl", "2026-07-28 (--modern): list results carry ttlMs of this `duration` (e.g. 60s; at least 1ms)", func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		if d < time.Millisecond {
			return fmt.Errorf("want at least 1ms, got %s", s)
		}
		o.ttl = d
		return nil
	})
	fs.Func("list-cache-scope", "with --list-ttl: the cacheScope, `private` (default) or public", func(s string) error {
		switch scope := mcp.CacheScope(s); scope {
		case mcp.CacheScopePrivate, mcp.CacheScopePublic:
			o.scope = scope
			return nil
		}
		return fmt.Errorf("want private or public, got %q", s)
	})
}

// apply sets the hints on the server's list methods.
func (o listTTLOptions) apply(s *server.MCPServer) {
	if o.ttl <= 0 {
		return
	}
	for _, m := range []mcp.MCPMethod{mcp.MethodToolsList, mcp.MethodPromptsList,
		mcp.MethodResourcesList, mcp.MethodResourcesTemplatesList} {
		server.WithMethodCacheHints(m, o.ttl.Milliseconds(), o.scope)(s)
	}
}
