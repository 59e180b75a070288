package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
)

// The menu: a prompt and a template whose dish argument completes from the cuisine given
// in the request's context (completion/complete context.arguments), and from every dish
// without one.
const (
	menuTemplate = "test://menu/{cuisine}/{dish}"
	menuPrefix   = "test://menu/"
)

var menu = map[string][]string{
	"italian":  {"pasta", "pizza", "risotto"},
	"japanese": {"ramen", "sushi", "tempura"},
	"mexican":  {"tacos", "tamales", "tortas"},
}

func (ts *testServer) addMenu() {
	ts.mcp.AddPrompt(mcp.NewPrompt("order",
		mcp.WithPromptDescription("Orders a dish of a cuisine; dish completes from the cuisine in the completion context."),
		mcp.WithArgument("cuisine", mcp.RequiredArgument(), mcp.ArgumentDescription("italian, japanese or mexican")),
		mcp.WithArgument("dish", mcp.RequiredArgument(), mcp.ArgumentDescription("a dish of that cuisine")),
	), func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		cuisine, dish := req.Params.Arguments["cuisine"], req.Params.Arguments["dish"]
		if !slices.Contains(menu[cuisine], dish) {
			return nil, errors.New("no such dish on the menu")
		}
		text := fmt.Sprintf("One %s %s, please.", cuisine, dish)
		return mcp.NewGetPromptResult("An order",
			[]mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))}), nil
	})
	ts.mcp.AddResourceTemplate(mcp.NewResourceTemplate(menuTemplate, "menu",
		mcp.WithTemplateDescription("A dish of a cuisine, as text; dish completes from the cuisine in the completion context."),
		mcp.WithTemplateMIMEType("text/plain"),
	), func(_ context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
		cuisine, dish, _ := strings.Cut(strings.TrimPrefix(req.Params.URI, menuPrefix), "/")
		return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "text/plain", Text: dish + " (" + cuisine + ")"}}, nil
	})
}

// completeMenu completes the order prompt's and the menu template's arguments; ok is
// false for any other argument.
func completeMenu(arg mcp.CompleteArgument, cc mcp.CompleteContext) (c *mcp.Completion, ok bool) {
	switch arg.Name {
	case "cuisine":
		var cuisines []string
		for k := range menu {
			cuisines = append(cuisines, k)
		}
		slices.Sort(cuisines)
		return completeFrom(cuisines, arg.Value), true
	case "dish":
		if dishes, known := menu[cc.Arguments["cuisine"]]; known {
			return completeFrom(dishes, arg.Value), true
		}
		var all []string
		for _, ds := range menu {
			all = append(all, ds...)
		}
		slices.Sort(all)
		return completeFrom(all, arg.Value), true
	}
	return nil, false
}
