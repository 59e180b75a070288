package main

import (
	"io"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestPaging_ListsComeInPagesOfPageSize(t *testing.T) {
	c, _ := startStdio(t, nil, "--page-size", "3", "--paged-tools", "10", "--paged-resources", "7", "--paged-templates", "4", "--paged-prompts", "5")

	t.Run("tools: 10 own and 10 paged, 3 a page", func(t *testing.T) {
		var names []string
		var cursor mcp.Cursor
		pages := 0
		for {
			req := mcp.ListToolsRequest{}
			req.Params.Cursor = cursor
			res, err := c.ListToolsByPage(testCtx(t), req)
			if err != nil {
				t.Fatalf("tools/list page %d: %v", pages+1, err)
			}
			pages++
			if len(res.Tools) > 3 {
				t.Errorf("page %d has %d tools, want at most 3", pages, len(res.Tools))
			}
			for _, tool := range res.Tools {
				names = append(names, tool.Name)
			}
			if res.NextCursor == "" {
				break
			}
			cursor = res.NextCursor
		}
		if len(names) != 20 || pages != 7 {
			t.Errorf("got %d tools in %d pages, want 20 in 7: %q", len(names), pages, names)
		}
		res := callTool(t, c, "page_tool_10", nil)
		if got := resultText(res); got != "page_tool_10 called" {
			t.Errorf("page_tool_10 = %q", got)
		}
	})
	t.Run("a paged resource, template and prompt answer", func(t *testing.T) {
		rr := mcp.ReadResourceRequest{}
		rr.Params.URI = "test://paged/07"
		res, err := c.ReadResource(testCtx(t), rr)
		if err != nil || len(res.Contents) != 1 || res.Contents[0].(mcp.TextResourceContents).Text != "paged resource 07" {
			t.Errorf("read test://paged/07: %v, %+v", err, res)
		}
		rr.Params.URI = "test://paged-template-04/x9"
		res, err = c.ReadResource(testCtx(t), rr)
		if err != nil || len(res.Contents) != 1 || res.Contents[0].(mcp.TextResourceContents).Text != "paged template 04 x9" {
			t.Errorf("read test://paged-template-04/x9: %v, %+v", err, res)
		}
		pr := mcp.GetPromptRequest{}
		pr.Params.Name = "paged_prompt_05"
		got, err := c.GetPrompt(testCtx(t), pr)
		if err != nil || len(got.Messages) != 1 || got.Messages[0].Content.(mcp.TextContent).Text != "paged prompt 05" {
			t.Errorf("get paged_prompt_05: %v, %+v", err, got)
		}
	})
}

func TestPaging_BadCursors(t *testing.T) {
	t.Run("same: the first page again, with the same cursor", func(t *testing.T) {
		c, _ := startStdio(t, nil, "--bad-cursor", "same")
		first, err := c.ListPromptsByPage(testCtx(t), mcp.ListPromptsRequest{})
		if err != nil {
			t.Fatalf("prompts/list: %v", err)
		}
		if first.NextCursor == "" {
			t.Fatal("prompts/list: no nextCursor")
		}
		req := mcp.ListPromptsRequest{}
		req.Params.Cursor = first.NextCursor
		again, err := c.ListPromptsByPage(testCtx(t), req)
		if err != nil || again.NextCursor != first.NextCursor || len(again.Prompts) != len(first.Prompts) {
			t.Errorf("prompts/list at %q: %v, nextCursor %q, %d prompts; want the same page and cursor", first.NextCursor, err, again.NextCursor, len(again.Prompts))
		}
	})
	t.Run("endless: a new cursor every page", func(t *testing.T) {
		c, _ := startStdio(t, nil, "--bad-cursor", "endless")
		seen := map[mcp.Cursor]bool{}
		req := mcp.ListResourcesRequest{}
		for i := 0; i < 5; i++ {
			res, err := c.ListResourcesByPage(testCtx(t), req)
			if err != nil {
				t.Fatalf("resources/list page %d: %v", i+1, err)
			}
			if res.NextCursor == "" || seen[res.NextCursor] {
				t.Fatalf("resources/list page %d: nextCursor %q (seen before: %v)", i+1, res.NextCursor, seen[res.NextCursor])
			}
			seen[res.NextCursor] = true
			req.Params.Cursor = res.NextCursor
		}
	})
}

func TestPaging_BadFlagsAreUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"--page-size", "-1"}, {"--paged-tools", "1000"}, {"--bad-cursor", "sometimes"}} {
		var stderr strings.Builder
		if code := run(args, strings.NewReader(""), io.Discard, &stderr, func(int) {}); code != exitUsage {
			t.Errorf("mcptestserver %q: exit %d, want %d (stderr %q)", args, code, exitUsage, stderr.String())
		}
	}
}
