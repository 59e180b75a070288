package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// listError is a list walk stopped because of what the server sent: exit 3, and a hint
// to look at the pages one at a time.
func listError(o *mcpOptions, method string, err error) error {
	return &clierr.Error{
		Code: clierr.ExitNetwork,
		Err:  fmt.Errorf("%s on @%s: %w; stopped paging", method, o.session, err),
		Hint: "one page at a time: mcpctl @" + o.session + " " + listCommand(method) + " --cursor CURSOR",
	}
}

// listCommand names the command that lists with method, for hints.
func listCommand(method string) string {
	for _, s := range mcpSpecs() {
		if s.method == method && s.listKey != "" && s.nargs == 0 {
			return s.name()
		}
	}
	return method
}

// listAll makes the paginated list request method (tools/list, resources/list,
// resources/templates/list, prompts/list) on the session and returns every page's items in
// one result (sessioncall.ListAll). --timeout bounds the whole walk, not each page.
func listAll(ctx context.Context, o *mcpOptions, method, key string) (json.RawMessage, error) {
	ctx, cancel := cmdkit.CommandContext(ctx, o.f)
	defer cancel()
	res, err := sessioncall.ListAll(ctx, key, func(ctx context.Context, params json.RawMessage) (json.RawMessage, error) {
		res, _, err := sessioncall.CallSession(ctx, o.f, o.session, method, params)
		return res, err
	})
	var pe *sessioncall.PageError
	if errors.As(err, &pe) {
		return nil, listError(o, method, pe.Err)
	}
	return res, err
}
