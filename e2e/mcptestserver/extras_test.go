package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events/testwait"

	"github.com/mark3labs/mcp-go/mcp"
)

func TestExtras_StepsReportProgressAndTheMenuCompletesFromItsContext(t *testing.T) {
	c, notes := startStdio(t, nil, "--extras")
	ctx := testCtx(t)

	for _, withTotal := range []bool{true, false} {
		token := "steps-total"
		if !withTotal {
			token = "steps-no-total"
		}
		t.Run("steps sends one progress per step, total "+token, func(t *testing.T) {
			req := mcp.CallToolRequest{}
			req.Params.Name = "steps"
			req.Params.Arguments = map[string]any{"n": 4, "ms": 1, "total": withTotal}
			req.Params.Meta = &mcp.Meta{ProgressToken: token}
			res, err := c.CallTool(ctx, req)
			if err != nil || res.IsError {
				t.Fatalf("steps: %v %+v", err, res)
			}
			if got := resultText(res); got != "took 4 steps" {
				t.Errorf("steps result %q", got)
			}
			var mine []map[string]any
			testwait.For(t, 10*time.Second, func() error {
				mine = nil
				for _, n := range notes.byMethod("notifications/progress") {
					if n.Params.AdditionalFields["progressToken"] == token {
						mine = append(mine, n.Params.AdditionalFields)
					}
				}
				if len(mine) != 4 {
					return fmt.Errorf("%d progress notifications for %s, want 4: %v", len(mine), token, mine)
				}
				return nil
			})
			for i, p := range mine {
				if p["progress"] != float64(i+1) || p["message"] != "step "+string(rune('1'+i))+" of 4" {
					t.Errorf("notification %d: %v", i+1, p)
				}
				if _, has := p["total"]; has != withTotal {
					t.Errorf("notification %d has a total: %v, want %v", i+1, has, withTotal)
				}
			}
		})
	}

	t.Run("completion of dish depends on the cuisine in the context", func(t *testing.T) {
		for _, tc := range []struct {
			ref   any
			value string
			ctx   map[string]string
			want  string
		}{
			{mcp.PromptReference{Type: "ref/prompt", Name: "order"}, "t", map[string]string{"cuisine": "japanese"}, "tempura"},
			{mcp.PromptReference{Type: "ref/prompt", Name: "order"}, "t", nil, "tacos tamales tempura tortas"},
			{mcp.PromptReference{Type: "ref/prompt", Name: "order"}, "", map[string]string{"cuisine": "italian"}, "pasta pizza risotto"},
			{mcp.ResourceReference{Type: "ref/resource", URI: menuTemplate}, "t", map[string]string{"cuisine": "mexican"}, "tacos tamales tortas"},
			{mcp.ResourceReference{Type: "ref/resource", URI: menuTemplate}, "r", nil, "ramen risotto"},
		} {
			req := mcp.CompleteRequest{}
			req.Params.Ref = tc.ref
			req.Params.Argument.Name = "dish"
			req.Params.Argument.Value = tc.value
			req.Params.Context.Arguments = tc.ctx
			res, err := c.Complete(ctx, req)
			if err != nil {
				t.Fatalf("complete dish=%q context %v: %v", tc.value, tc.ctx, err)
			}
			if got := strings.Join(res.Completion.Values, " "); got != tc.want {
				t.Errorf("complete %v dish=%q context %v = %q, want %q", tc.ref, tc.value, tc.ctx, got, tc.want)
			}
		}
	})
}
