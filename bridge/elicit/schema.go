// Package elicit holds the rules of an elicitation's request that both ends apply: which
// requested schemas can be asked for (a flat object of primitives and enums, in the order
// the server wrote them), what a valid value and a default are, which URLs a person may be
// sent to. The bridge checks every ask with it before anyone sees it and answers by policy
// with it; the CLI builds its terminal form from it. It links no MCP library.
package elicit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kind is what a field holds.
type Kind int

const (
	KindString Kind = iota
	KindNumber
	KindInteger
	KindBoolean
	KindSelect      // one of Options
	KindMultiSelect // any of Options
)

// Option is one choice of a select field.
type Option struct {
	Value string
	Title string // "" when the schema gives none
}

// Field is one property of a requested schema, as the spec allows them: flat primitives
// and enums.
type Field struct {
	Name        string
	Title       string
	Description string
	Kind        Kind
	Required    bool
	Default     json.RawMessage // nil: none
	Options     []Option
	Format      string // strings: email, uri, date, date-time
	MinLength   *int
	MaxLength   *int
	Minimum     *float64
	Maximum     *float64
	MinItems    *int
	MaxItems    *int
}

// Label is how the field is named to a person.
func (f Field) Label() string {
	if f.Title != "" {
		return f.Title
	}
	return f.Name
}

// Form is a requested schema in the order the server wrote its properties.
type Form struct {
	Fields []Field
}

// ParseForm reads a requestedSchema: an object of primitive properties. Anything else
// (nested objects, unknown types, a default that is not a value of its field) is an error
// that says which field.
func ParseForm(raw json.RawMessage) (Form, error) {
	var s struct {
		Type       string          `json:"type"`
		Properties json.RawMessage `json:"properties"`
		Required   []string        `json:"required"`
	}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return Form{}, errors.New("missing")
	}
	if err := json.Unmarshal(raw, &s); err != nil {
		return Form{}, errors.New("not an object schema")
	}
	if s.Type != "object" {
		return Form{}, fmt.Errorf("type %q: must be object", s.Type)
	}
	names, props, err := orderedObject(s.Properties)
	if err != nil {
		return Form{}, fmt.Errorf("properties: %v", err)
	}
	var f Form
	for _, name := range names {
		fl, err := parseField(name, props[name])
		if err != nil {
			return Form{}, fmt.Errorf("property %q: %v", name, err)
		}
		fl.Required = slices.Contains(s.Required, name)
		f.Fields = append(f.Fields, fl)
	}
	for _, r := range s.Required {
		if !slices.Contains(names, r) {
			return Form{}, fmt.Errorf("required %q is not a property", r)
		}
	}
	return f, nil
}

// orderedObject decodes a JSON object keeping its keys' order.
func orderedObject(raw json.RawMessage) ([]string, map[string]json.RawMessage, error) {
	vals := map[string]json.RawMessage{}
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, vals, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, nil, errors.New("not an object")
	}
	var keys []string
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		if _, dup := vals[k]; !dup {
			keys = append(keys, k)
		}
		vals[k] = v
	}
	return keys, vals, nil
}

type propSchema struct {
	Type        json.RawMessage   `json:"type"`
	Title       string            `json:"title"`
	Description string            `json:"description"`
	Default     json.RawMessage   `json:"default"`
	Enum        []json.RawMessage `json:"enum"`
	EnumNames   []string          `json:"enumNames"`
	OneOf       []constTitle      `json:"oneOf"`
	AnyOf       []constTitle      `json:"anyOf"`
	Format      string            `json:"format"`
	MinLength   *int              `json:"minLength"`
	MaxLength   *int              `json:"maxLength"`
	Minimum     *float64          `json:"minimum"`
	Maximum     *float64          `json:"maximum"`
	MinItems    *int              `json:"minItems"`
	MaxItems    *int              `json:"maxItems"`
	Items       *propSchema       `json:"items"`
}

type constTitle struct {
	Const json.RawMessage `json:"const"`
	Title string          `json:"title"`
}

func parseField(name string, raw json.RawMessage) (Field, error) {
	var p propSchema
	if err := json.Unmarshal(raw, &p); err != nil {
		return Field{}, errors.New("not a schema object")
	}
	var typ string
	_ = json.Unmarshal(p.Type, &typ)
	f := Field{Name: name, Title: p.Title, Description: p.Description, Format: p.Format,
		MinLength: p.MinLength, MaxLength: p.MaxLength, Minimum: p.Minimum, Maximum: p.Maximum,
		MinItems: p.MinItems, MaxItems: p.MaxItems}
	switch typ {
	case "string":
		opts, err := options(p.Enum, p.EnumNames, p.OneOf, p.AnyOf)
		if err != nil {
			return Field{}, err
		}
		f.Kind = KindString
		if len(opts) > 0 {
			f.Kind, f.Options = KindSelect, opts
		}
	case "number":
		f.Kind = KindNumber
	case "integer":
		f.Kind = KindInteger
	case "boolean":
		f.Kind = KindBoolean
	case "array":
		var opts []Option
		var err error
		if p.Items != nil {
			opts, err = options(p.Items.Enum, p.Items.EnumNames, p.Items.OneOf, p.Items.AnyOf)
		}
		if err != nil {
			return Field{}, err
		}
		if len(opts) == 0 {
			return Field{}, errors.New("an array must have items that are an enum of strings")
		}
		f.Kind, f.Options = KindMultiSelect, opts
	default:
		return Field{}, fmt.Errorf("type %s cannot be asked for (a form has strings, numbers, integers, booleans and enums)", typeName(p.Type))
	}
	if len(p.Default) > 0 && string(p.Default) != "null" {
		if _, err := f.check(p.Default); err != nil {
			return Field{}, fmt.Errorf("default: %v", err)
		}
		f.Default = p.Default
	}
	return f, nil
}

// typeName quotes a property's type for an error message.
func typeName(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "(none)"
	}
	if len(raw) > 40 {
		return string(raw[:40]) + "…"
	}
	return string(raw)
}

// options reads the choices of a select: enum (titles from enumNames), or oneOf/anyOf of
// {const, title}.
func options(enum []json.RawMessage, names []string, oneOf, anyOf []constTitle) ([]Option, error) {
	var out []Option
	for i, e := range enum {
		var v string
		if err := json.Unmarshal(e, &v); err != nil {
			return nil, errors.New("enum: a value that is not a string")
		}
		o := Option{Value: v}
		if i < len(names) {
			o.Title = names[i]
		}
		out = append(out, o)
	}
	for _, c := range append(oneOf, anyOf...) {
		var v string
		if c.Const == nil {
			return nil, errors.New("an option without const")
		}
		if err := json.Unmarshal(c.Const, &v); err != nil {
			return nil, errors.New("an option whose const is not a string")
		}
		out = append(out, Option{Value: v, Title: c.Title})
	}
	return out, nil
}

// Defaults is the content of an accept with every default applied, and the first required
// field without one ("" when there is none).
func (f Form) Defaults() (json.RawMessage, string) {
	content := map[string]json.RawMessage{}
	missing := ""
	for _, fl := range f.Fields {
		switch {
		case fl.Default != nil:
			content[fl.Name] = fl.Default
		case fl.Required && missing == "":
			missing = fl.Name
		}
	}
	if missing != "" {
		return nil, missing
	}
	b, _ := json.Marshal(content)
	return b, ""
}

// check validates a JSON value for the field and returns it compacted.
func (f Field) check(v json.RawMessage) (json.RawMessage, error) {
	switch f.Kind {
	case KindString, KindSelect:
		var s string
		if json.Unmarshal(v, &s) != nil {
			return nil, errors.New("not a string")
		}
		return f.checkString(s)
	case KindNumber, KindInteger:
		var n float64
		if json.Unmarshal(v, &n) != nil {
			return nil, errors.New("not a number")
		}
		return f.checkNumber(n)
	case KindBoolean:
		var b bool
		if json.Unmarshal(v, &b) != nil {
			return nil, errors.New("not a boolean")
		}
		return json.Marshal(b)
	case KindMultiSelect:
		var list []string
		if json.Unmarshal(v, &list) != nil {
			return nil, errors.New("not an array of strings")
		}
		return f.checkList(list)
	}
	return nil, errors.New("unknown kind")
}

func (f Field) checkString(s string) (json.RawMessage, error) {
	if f.Kind == KindSelect {
		if !slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == s }) {
			return nil, fmt.Errorf("%q is not one of the values", s)
		}
		return json.Marshal(s)
	}
	n := len([]rune(s))
	if f.MinLength != nil && n < *f.MinLength {
		return nil, fmt.Errorf("at least %d characters", *f.MinLength)
	}
	if f.MaxLength != nil && n > *f.MaxLength {
		return nil, fmt.Errorf("at most %d characters", *f.MaxLength)
	}
	switch f.Format {
	case "email":
		if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
			return nil, errors.New("not an email address")
		}
	case "uri":
		if u, err := url.Parse(s); err != nil || u.Scheme == "" {
			return nil, errors.New("not a URI (scheme:…)")
		}
	case "date":
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return nil, errors.New("not a date (YYYY-MM-DD)")
		}
	case "date-time":
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return nil, errors.New("not a date-time (RFC 3339, e.g. 2026-07-28T12:00:00Z)")
		}
	}
	return json.Marshal(s)
}

func (f Field) checkNumber(n float64) (json.RawMessage, error) {
	if math.IsNaN(n) || math.IsInf(n, 0) {
		return nil, errors.New("not a finite number")
	}
	if f.Kind == KindInteger && n != math.Trunc(n) {
		return nil, errors.New("not an integer")
	}
	if f.Minimum != nil && n < *f.Minimum {
		return nil, fmt.Errorf("at least %s", strconv.FormatFloat(*f.Minimum, 'f', -1, 64))
	}
	if f.Maximum != nil && n > *f.Maximum {
		return nil, fmt.Errorf("at most %s", strconv.FormatFloat(*f.Maximum, 'f', -1, 64))
	}
	return json.RawMessage(strconv.FormatFloat(n, 'f', -1, 64)), nil
}

func (f Field) checkList(list []string) (json.RawMessage, error) {
	for _, s := range list {
		if !slices.ContainsFunc(f.Options, func(o Option) bool { return o.Value == s }) {
			return nil, fmt.Errorf("%q is not one of the values", s)
		}
	}
	if f.MinItems != nil && len(list) < *f.MinItems {
		return nil, fmt.Errorf("choose at least %d", *f.MinItems)
	}
	if f.MaxItems != nil && len(list) > *f.MaxItems {
		return nil, fmt.Errorf("choose at most %d", *f.MaxItems)
	}
	if list == nil {
		list = []string{}
	}
	return json.Marshal(list)
}

// Parse reads what a person typed for the field: a number for a select (or the value
// itself), comma-separated numbers or values for a multi-select, y/n for a boolean.
func (f Field) Parse(in string) (json.RawMessage, error) {
	in = strings.TrimSpace(in)
	switch f.Kind {
	case KindString:
		return f.checkString(in)
	case KindSelect:
		v, err := f.choice(in)
		if err != nil {
			return nil, err
		}
		return f.checkString(v)
	case KindMultiSelect:
		var list []string
		for _, part := range strings.Split(in, ",") {
			if part = strings.TrimSpace(part); part == "" {
				continue
			}
			v, err := f.choice(part)
			if err != nil {
				return nil, err
			}
			if !slices.Contains(list, v) {
				list = append(list, v)
			}
		}
		return f.checkList(list)
	case KindNumber, KindInteger:
		n, err := strconv.ParseFloat(in, 64)
		if err != nil {
			if f.Kind == KindInteger {
				return nil, errors.New("not an integer")
			}
			return nil, errors.New("not a number")
		}
		return f.checkNumber(n)
	case KindBoolean:
		switch strings.ToLower(in) {
		case "y", "yes", "true":
			return json.RawMessage("true"), nil
		case "n", "no", "false":
			return json.RawMessage("false"), nil
		}
		return nil, errors.New("want y or n")
	}
	return nil, errors.New("unknown kind")
}

// choice maps "2" to the second option's value, and a value to itself.
func (f Field) choice(in string) (string, error) {
	if i, err := strconv.Atoi(in); err == nil {
		if i < 1 || i > len(f.Options) {
			return "", fmt.Errorf("choose 1 to %d", len(f.Options))
		}
		return f.Options[i-1].Value, nil
	}
	for _, o := range f.Options {
		if o.Value == in || (o.Title != "" && strings.EqualFold(o.Title, in)) {
			return o.Value, nil
		}
	}
	return "", fmt.Errorf("%q is not one of the values", in)
}

// CheckURL refuses what a person must never be sent to from an elicitation: anything but
// an https URL with a host, and URLs carrying credentials.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("not a URL")
	}
	if u.Scheme != "https" {
		return fmt.Errorf("scheme %q: only https", u.Scheme)
	}
	if u.Host == "" {
		return errors.New("no host")
	}
	if u.User != nil {
		return errors.New("it carries credentials")
	}
	return nil
}
