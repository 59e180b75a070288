package mcp

// How tools-list and tools-get show tools to a person: a signature built from the input
// schema (search(query: string, limit?: integer)), the server's annotation hints, and on
// request (--full, or tools-get) the description, the schemas and the task support.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/sessioncall"
)

// toolView is a tool as tools/list describes it, as much as the human output shows.
type toolView struct {
	Name         string          `json:"name"`
	Title        string          `json:"title"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"inputSchema"`
	OutputSchema json.RawMessage `json:"outputSchema"`
	Annotations  struct {
		Title           string `json:"title"`
		ReadOnlyHint    *bool  `json:"readOnlyHint"`
		DestructiveHint *bool  `json:"destructiveHint"`
		IdempotentHint  *bool  `json:"idempotentHint"`
		OpenWorldHint   *bool  `json:"openWorldHint"`
	} `json:"annotations"`
	Execution struct {
		TaskSupport string `json:"taskSupport"`
	} `json:"execution"`
}

// title is the tool's display name, when it has one besides its name.
func (t *toolView) title() string {
	if t.Title != "" {
		return t.Title
	}
	return t.Annotations.Title
}

// hints are the annotation hints the server set to true, in the spec's order. Destructive
// and idempotent mean something only for a tool that is not read-only.
func (t *toolView) hints() []string {
	a := t.Annotations
	yes := func(b *bool) bool { return b != nil && *b }
	var out []string
	if yes(a.ReadOnlyHint) {
		out = append(out, "read-only")
	} else {
		if yes(a.DestructiveHint) {
			out = append(out, "destructive")
		}
		if yes(a.IdempotentHint) {
			out = append(out, "idempotent")
		}
	}
	if yes(a.OpenWorldHint) {
		out = append(out, "open-world")
	}
	return out
}

// taskSupport is execution.taskSupport, with the spec's default when the tool gives none.
func (t *toolView) taskSupport() string {
	if t.Execution.TaskSupport == "" {
		return "forbidden (not declared)"
	}
	return t.Execution.TaskSupport
}

// toolSignature is name(param: type, optional?: type, …) from the tool's input schema,
// its parameters in the schema's order.
func toolSignature(name string, inputSchema json.RawMessage) string {
	var s struct {
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	_ = json.Unmarshal(inputSchema, &s)
	required := map[string]bool{}
	for _, r := range s.Required {
		required[r] = true
	}
	var params []string
	for _, p := range orderedMembers(s.Properties) {
		opt := "?"
		if required[p.key] {
			opt = ""
		}
		params = append(params, p.key+opt+": "+schemaType(p.value, 0))
	}
	return name + "(" + strings.Join(params, ", ") + ")"
}

type member struct {
	key   string
	value json.RawMessage
}

// orderedMembers are the members of a JSON object in the order they are written (a map
// would lose the order the server gave its parameters in); nil for anything else.
func orderedMembers(raw json.RawMessage) []member {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		key, _ := tok.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return out
		}
		out = append(out, member{key, v})
	}
	return out
}

// schemaType is a short type for a JSON schema: string, integer[], "a"|"b", string|null,
// object, any. depth bounds a schema that nests itself deeply.
func schemaType(raw json.RawMessage, depth int) string {
	var s struct {
		Type  json.RawMessage   `json:"type"`
		Enum  []json.RawMessage `json:"enum"`
		Const json.RawMessage   `json:"const"`
		Items json.RawMessage   `json:"items"`
		AnyOf []json.RawMessage `json:"anyOf"`
		OneOf []json.RawMessage `json:"oneOf"`
	}
	if depth > 4 || json.Unmarshal(raw, &s) != nil {
		return "any"
	}
	switch {
	case len(s.Const) > 0:
		return compact(s.Const)
	case len(s.Enum) > 0:
		var vs []string
		for _, e := range s.Enum {
			vs = append(vs, compact(e))
		}
		return strings.Join(vs, "|")
	case len(s.AnyOf) > 0 || len(s.OneOf) > 0:
		var ts []string
		for _, m := range append(s.AnyOf, s.OneOf...) {
			ts = append(ts, schemaType(m, depth+1))
		}
		return strings.Join(ts, "|")
	}
	var types []string
	var one string
	if json.Unmarshal(s.Type, &one) == nil && one != "" {
		types = []string{one}
	} else if json.Unmarshal(s.Type, &types) != nil || len(types) == 0 {
		return "any"
	}
	for i, t := range types {
		if t == "array" {
			item := "any"
			if len(s.Items) > 0 {
				item = schemaType(s.Items, depth+1)
			}
			if strings.Contains(item, "|") {
				item = "(" + item + ")"
			}
			types[i] = item + "[]"
		}
	}
	return strings.Join(types, "|")
}

func compact(raw json.RawMessage) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

// printToolsList prints one line a tool: its signature, hints, and title (or the first line
// of its description); full prints each tool's whole description, schemas and task support
// below it instead.
func printToolsList(w io.Writer, ios *cmdkit.IOStreams, res json.RawMessage, full bool) error {
	var r struct{ Tools []toolView }
	if err := json.Unmarshal(res, &r); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for i, t := range r.Tools {
		if full {
			// One tool after the other, each with its details: no columns.
			if i > 0 {
				fmt.Fprintln(w)
			}
			line := ios.Color("1", t.Name) + strings.TrimPrefix(toolSignature(t.Name, t.InputSchema), t.Name)
			if h := t.hints(); len(h) > 0 {
				line += "  [" + strings.Join(h, ", ") + "]"
			}
			fmt.Fprintln(w, line)
			if err := printToolDetails(w, &t, "  "); err != nil {
				return err
			}
			continue
		}
		hints := ""
		if h := t.hints(); len(h) > 0 {
			hints = "[" + strings.Join(h, ", ") + "]"
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\n", ios.Color("1", t.Name), strings.TrimPrefix(toolSignature(t.Name, t.InputSchema), t.Name),
			hints, firstLine(sessioncall.FirstNonEmpty(t.title(), t.Description)))
	}
	return tw.Flush()
}

// printTool is tools-get for a person: the name first, then everything about the tool.
func printTool(w io.Writer, ios *cmdkit.IOStreams, res json.RawMessage) error {
	var t toolView
	if err := json.Unmarshal(res, &t); err != nil {
		return err
	}
	fmt.Fprintln(w, ios.Color("1", t.Name))
	fmt.Fprintln(w, "signature: "+toolSignature(t.Name, t.InputSchema))
	return printToolDetails(w, &t, "")
}

func printToolDetails(w io.Writer, t *toolView, indent string) error {
	if title := t.title(); title != "" {
		fmt.Fprintf(w, "%stitle: %s\n", indent, title)
	}
	if d := strings.TrimSpace(t.Description); d != "" {
		fmt.Fprintf(w, "%s%s\n", indent, strings.ReplaceAll(d, "\n", "\n"+indent))
	}
	hints := "none given"
	if h := t.hints(); len(h) > 0 {
		hints = strings.Join(h, ", ")
	}
	fmt.Fprintf(w, "%sannotations: %s\n", indent, hints)
	fmt.Fprintf(w, "%stask support: %s\n", indent, t.taskSupport())
	fmt.Fprintf(w, "%sinput schema:\n", indent)
	if err := writeIndentedJSON(w, t.InputSchema, indent); err != nil {
		return err
	}
	if len(t.OutputSchema) == 0 || string(t.OutputSchema) == "null" {
		_, err := fmt.Fprintf(w, "%soutput schema: none\n", indent)
		return err
	}
	fmt.Fprintf(w, "%soutput schema:\n", indent)
	return writeIndentedJSON(w, t.OutputSchema, indent)
}

func writeIndentedJSON(w io.Writer, raw json.RawMessage, indent string) error {
	var b bytes.Buffer
	if len(raw) == 0 || json.Indent(&b, raw, indent, "  ") != nil {
		_, err := fmt.Fprintf(w, "%s%s\n", indent, raw)
		return err
	}
	_, err := fmt.Fprintf(w, "%s%s\n", indent, b.Bytes())
	return err
}
