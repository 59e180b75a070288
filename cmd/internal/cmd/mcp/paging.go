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

// maxListPages bounds one walk of a list. A server with 100 items a page would need
// 100,000 of them to reach it; one that keeps handing out new cursors is stopped there.
const maxListPages = 1000

// Why a list walk was stopped.
var (
	errCursorRepeated = errors.New("the server sent a cursor it had sent before")
	errTooManyPages   = errors.New("the server still had more pages")
	errBadPage        = errors.New("the server sent a page that is not a list result")
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
// resources/templates/list, prompts/list) on the session, following nextCursor until the
// server gives none. It returns one result object: the first page's fields, the items of
// every page under key in the server's order, and no nextCursor. A cursor the server sent
// before, or more than maxListPages pages, stops the walk with an error. --timeout bounds
// the whole walk, not each page.
func listAll(ctx context.Context, o *mcpOptions, method, key string) (json.RawMessage, error) {
	ctx, cancel := cmdkit.CommandContext(ctx, o.f)
	defer cancel()
	var (
		first  map[string]json.RawMessage
		items  = []json.RawMessage{}
		sentOn = map[string]int{} // cursor → the page that sent it
		cursor string
	)
	for page := 1; ; page++ {
		res, _, err := sessioncall.CallSession(ctx, o.f, o.session, method, cursorParams(cursor))
		if err != nil {
			return nil, err
		}
		fields, pageItems, next, err := splitPage(res, key)
		if err != nil {
			return nil, listError(o, method, fmt.Errorf("page %d: %w", page, err))
		}
		if first == nil {
			first = fields
		}
		items = append(items, pageItems...)
		if next == "" {
			break
		}
		if p, ok := sentOn[next]; ok {
			return nil, listError(o, method, fmt.Errorf("%w: nextCursor %q on page %d, as on page %d", errCursorRepeated, next, page, p))
		}
		if page >= maxListPages {
			return nil, listError(o, method, fmt.Errorf("%w after %d pages (last nextCursor %q)", errTooManyPages, page, next))
		}
		sentOn[next] = page
		cursor = next
	}
	first[key] = MustJSON(items)
	delete(first, "nextCursor")
	return MustJSON(first), nil
}

// cursorParams are the params of a list request: {} for the first page.
func cursorParams(cursor string) json.RawMessage {
	if cursor == "" {
		return json.RawMessage("{}")
	}
	return MustJSON(map[string]string{"cursor": cursor})
}

// splitPage takes one list result apart: its fields, its items (kept verbatim) and its
// nextCursor ("" on the last page).
func splitPage(res json.RawMessage, key string) (fields map[string]json.RawMessage, items []json.RawMessage, next string, err error) {
	if err := json.Unmarshal(res, &fields); err != nil || fields == nil {
		return nil, nil, "", fmt.Errorf("%w: not a JSON object", errBadPage)
	}
	if raw, ok := fields[key]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, nil, "", fmt.Errorf("%w: %s is not an array", errBadPage, key)
		}
	}
	if raw, ok := fields["nextCursor"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &next); err != nil {
			return nil, nil, "", fmt.Errorf("%w: nextCursor %s is not a string", errBadPage, raw)
		}
	}
	return fields, items, next, nil
}
