package sessioncall

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// MaxListPages bounds one walk of a list. A server with 100 items a page would need
// 100,000 of them to reach it; one that keeps handing out new cursors is stopped there.
const MaxListPages = 1000

// Why a list walk was stopped.
var (
	ErrCursorRepeated = errors.New("the server sent a cursor it had sent before")
	ErrTooManyPages   = errors.New("the server still had more pages")
	ErrBadPage        = errors.New("the server sent a page that is not a list result")
)

// PageError is a list walk stopped because of what the server sent (a repeated cursor, too
// many pages, a page that is not a list result).
type PageError struct{ Err error }

func (e *PageError) Error() string { return e.Err.Error() }
func (e *PageError) Unwrap() error { return e.Err }

// ListAll walks a paginated MCP list: call is one request of the list method with the
// params it is given ({} for the first page, {"cursor": C} after). It follows nextCursor
// until the server gives none and returns one result object: the first page's fields, the
// items of every page under key in the server's order (verbatim), and no nextCursor. A
// cursor the server sent before, or more than MaxListPages pages, stops the walk with a
// *PageError; call's own errors are returned as they are.
func ListAll(ctx context.Context, key string, call func(context.Context, json.RawMessage) (json.RawMessage, error)) (json.RawMessage, error) {
	var (
		first  map[string]json.RawMessage
		items  = []json.RawMessage{}
		sentOn = map[string]int{} // cursor → the page that sent it
		cursor string
	)
	for page := 1; ; page++ {
		res, err := call(ctx, CursorParams(cursor))
		if err != nil {
			return nil, err
		}
		fields, pageItems, next, err := SplitPage(res, key)
		if err != nil {
			return nil, &PageError{fmt.Errorf("page %d: %w", page, err)}
		}
		if first == nil {
			first = fields
		}
		items = append(items, pageItems...)
		if next == "" {
			break
		}
		if p, ok := sentOn[next]; ok {
			return nil, &PageError{fmt.Errorf("%w: nextCursor %q on page %d, as on page %d", ErrCursorRepeated, next, page, p)}
		}
		if page >= MaxListPages {
			return nil, &PageError{fmt.Errorf("%w after %d pages (last nextCursor %q)", ErrTooManyPages, page, next)}
		}
		sentOn[next] = page
		cursor = next
	}
	first[key] = mustJSON(items)
	delete(first, "nextCursor")
	return mustJSON(first), nil
}

// CursorParams are the params of a list request: {} for the first page.
func CursorParams(cursor string) json.RawMessage {
	if cursor == "" {
		return json.RawMessage("{}")
	}
	return mustJSON(map[string]string{"cursor": cursor})
}

// SplitPage takes one list result apart: its fields, its items (kept verbatim) and its
// nextCursor ("" on the last page).
func SplitPage(res json.RawMessage, key string) (fields map[string]json.RawMessage, items []json.RawMessage, next string, err error) {
	if err := json.Unmarshal(res, &fields); err != nil || fields == nil {
		return nil, nil, "", fmt.Errorf("%w: not a JSON object", ErrBadPage)
	}
	if raw, ok := fields[key]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, nil, "", fmt.Errorf("%w: %s is not an array", ErrBadPage, key)
		}
	}
	if raw, ok := fields["nextCursor"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &next); err != nil {
			return nil, nil, "", fmt.Errorf("%w: nextCursor %s is not a string", ErrBadPage, raw)
		}
	}
	return fields, items, next, nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
