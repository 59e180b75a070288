package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// Bad cursor modes (--bad-cursor).
const (
	badCursorSame    = "same"    // every list page says nextCursor is the same cursor
	badCursorEndless = "endless" // every list page has a nextCursor never sent before
)

// maxPagedItems bounds --paged-tools and the like.
const maxPagedItems = 999

// pagingOptions says how the server pages its lists: page size, how many generated
// tools, resources, templates and prompts it adds to its own, and whether its cursors
// misbehave. The zero value is a server that does not page.
type pagingOptions struct {
	pageSize  int
	tools     int
	resources int
	templates int
	prompts   int
	badCursor string
}

func (p *pagingOptions) register(fs *flag.FlagSet) {
	fs.IntVar(&p.pageSize, "page-size", 0, "page every list `N` items at a time, with nextCursor (0: one page)")
	fs.IntVar(&p.tools, "paged-tools", 0, "add `N` tools page_tool_01… (each returns \"page_tool_NN called\")")
	fs.IntVar(&p.resources, "paged-resources", 0, "add `N` resources test://paged/01… named paged-resource-NN (each reads \"paged resource NN\")")
	fs.IntVar(&p.templates, "paged-templates", 0, "add `N` resource templates test://paged-template-NN/{id} (each reads \"paged template NN ID\")")
	fs.IntVar(&p.prompts, "paged-prompts", 0, "add `N` prompts paged_prompt_01… without arguments (each says \"paged prompt NN\")")
	fs.StringVar(&p.badCursor, "bad-cursor", "", "lists misbehave: `same` (the same nextCursor forever) or endless (a new nextCursor on every page, forever)")
}

func (p pagingOptions) validate() error {
	if p.pageSize < 0 {
		return fmt.Errorf("--page-size: want 0 or more, got %d", p.pageSize)
	}
	for _, n := range []int{p.tools, p.resources, p.templates, p.prompts} {
		if n < 0 || n > maxPagedItems {
			return fmt.Errorf("--paged-*: want 0 to %d, got %d", maxPagedItems, n)
		}
	}
	switch p.badCursor {
	case "", badCursorSame, badCursorEndless:
		return nil
	}
	return fmt.Errorf("--bad-cursor: want same or endless, got %q", p.badCursor)
}

// serverOptions are mcp-go's own pagination: pages of pageSize items, the cursor being
// the base64 of the last item's name.
func (p pagingOptions) serverOptions() []server.ServerOption {
	if p.pageSize == 0 {
		return nil
	}
	return []server.ServerOption{server.WithPaginationLimit(p.pageSize)}
}

// addHooks makes every list result carry a bad nextCursor. The cursors decode to names
// that sort before any item's, so mcp-go answers them with the first page again.
func (p pagingOptions) addHooks(h *server.Hooks) {
	if p.badCursor == "" {
		return
	}
	var n atomic.Int64
	next := func() mcp.Cursor {
		name := "\x00"
		if p.badCursor == badCursorEndless {
			name += strconv.FormatInt(n.Add(1), 10)
		}
		return mcp.Cursor(base64.StdEncoding.EncodeToString([]byte(name)))
	}
	h.AddAfterListTools(func(_ context.Context, _ any, _ *mcp.ListToolsRequest, r *mcp.ListToolsResult) {
		r.NextCursor = next()
	})
	h.AddAfterListResources(func(_ context.Context, _ any, _ *mcp.ListResourcesRequest, r *mcp.ListResourcesResult) {
		r.NextCursor = next()
	})
	h.AddAfterListResourceTemplates(func(_ context.Context, _ any, _ *mcp.ListResourceTemplatesRequest, r *mcp.ListResourceTemplatesResult) {
		r.NextCursor = next()
	})
	h.AddAfterListPrompts(func(_ context.Context, _ any, _ *mcp.ListPromptsRequest, r *mcp.ListPromptsResult) {
		r.NextCursor = next()
	})
}

// addPaged adds the generated tools, resources, templates and prompts.
func (ts *testServer) addPaged(p pagingOptions) {
	for i := 1; i <= p.tools; i++ {
		name := fmt.Sprintf("page_tool_%02d", i)
		ts.mcp.AddTool(mcp.NewTool(name, mcp.WithDescription(fmt.Sprintf("Paged tool %d of %d.", i, p.tools))),
			func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return mcp.NewToolResultText(name + " called"), nil
			})
	}
	for i := 1; i <= p.resources; i++ {
		uri, text := fmt.Sprintf("test://paged/%02d", i), fmt.Sprintf("paged resource %02d", i)
		ts.mcp.AddResource(mcp.NewResource(uri, fmt.Sprintf("paged-resource-%02d", i), mcp.WithMIMEType("text/plain")),
			func(context.Context, mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				return []mcp.ResourceContents{mcp.TextResourceContents{URI: uri, MIMEType: "text/plain", Text: text}}, nil
			})
	}
	for i := 1; i <= p.templates; i++ {
		prefix := fmt.Sprintf("test://paged-template-%02d/", i)
		ts.mcp.AddResourceTemplate(mcp.NewResourceTemplate(prefix+"{id}", fmt.Sprintf("paged-template-%02d", i),
			mcp.WithTemplateMIMEType("text/plain")),
			func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
				id := strings.TrimPrefix(req.Params.URI, prefix)
				return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "text/plain",
					Text: fmt.Sprintf("paged template %02d %s", i, id)}}, nil
			})
	}
	for i := 1; i <= p.prompts; i++ {
		name, text := fmt.Sprintf("paged_prompt_%02d", i), fmt.Sprintf("paged prompt %02d", i)
		ts.mcp.AddPrompt(mcp.NewPrompt(name, mcp.WithPromptDescription(fmt.Sprintf("Paged prompt %d of %d.", i, p.prompts))),
			func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
				return mcp.NewGetPromptResult(text, []mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))}), nil
			})
	}
}
