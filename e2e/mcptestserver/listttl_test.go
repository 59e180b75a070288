package main

import (
	"io"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"
)

// TestListTTL_MarksListsCacheable: with --modern --list-ttl every list result (each page)
// carries ttlMs and cacheScope; without --list-ttl they carry mcp-go's default, ttlMs 0.
func TestListTTL_MarksListsCacheable(t *testing.T) {
	for _, tc := range []struct {
		name      string
		args      []string
		wantTTL   int64
		wantScope mcp.CacheScope
	}{
		{"--list-ttl 60s", []string{"--list-ttl", "60s"}, 60000, mcp.CacheScopePrivate},
		{"--list-ttl 1500ms public", []string{"--list-ttl", "1500ms", "--list-cache-scope", "public"}, 1500, mcp.CacheScopePublic},
		{"no --list-ttl", nil, 0, mcp.CacheScopePrivate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--modern", "--page-size", "2"}, tc.args...)
			c, err := client.NewStdioMCPClient(binPath, nil, args...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			req := mcp.InitializeRequest{}
			req.Params.ClientInfo = mcp.Implementation{Name: "list-ttl-test", Version: "0"}
			res, err := c.Initialize(testCtx(t), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.ProtocolVersion != mcp.ProtocolVersion20260728 {
				t.Fatalf("negotiated %q, want %q", res.ProtocolVersion, mcp.ProtocolVersion20260728)
			}
			check := func(list string, r mcp.CacheableResult) {
				t.Helper()
				ttl, ok := r.TTL()
				if !ok || ttl != tc.wantTTL || r.CacheScope != tc.wantScope {
					t.Errorf("%s: ttlMs %d (set %v), cacheScope %q; want %d, %q", list, ttl, ok, r.CacheScope, tc.wantTTL, tc.wantScope)
				}
			}
			tools, err := c.ListToolsByPage(testCtx(t), mcp.ListToolsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			check("tools/list", tools.CacheableResult)
			if tools.NextCursor == "" {
				t.Fatal("tools/list has one page; want several (--page-size 2)")
			}
			next := mcp.ListToolsRequest{}
			next.Params.Cursor = tools.NextCursor
			page2, err := c.ListToolsByPage(testCtx(t), next)
			if err != nil {
				t.Fatal(err)
			}
			check("tools/list page 2", page2.CacheableResult)
			prompts, err := c.ListPromptsByPage(testCtx(t), mcp.ListPromptsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			check("prompts/list", prompts.CacheableResult)
			resources, err := c.ListResourcesByPage(testCtx(t), mcp.ListResourcesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			check("resources/list", resources.CacheableResult)
			templates, err := c.ListResourceTemplatesByPage(testCtx(t), mcp.ListResourceTemplatesRequest{})
			if err != nil {
				t.Fatal(err)
			}
			check("resources/templates/list", templates.CacheableResult)
		})
	}
}

func TestListTTL_BadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--list-ttl", "soon"}, {"--list-ttl", "0"}, {"--list-ttl", "-1s"},
		{"--list-ttl", "500us"}, {"--list-cache-scope", "everyone"}} {
		var stderr strings.Builder
		if code := run(args, strings.NewReader(""), io.Discard, &stderr, func(int) {}); code != exitUsage {
			t.Errorf("mcptestserver %q: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr.String())
		}
	}
}
