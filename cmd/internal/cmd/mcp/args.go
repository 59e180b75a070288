package mcp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

// maxArgsSize bounds the JSON arguments of one call.
const maxArgsSize = 16 << 20

// parseToolArgs turns command-line arguments into a JSON object:
//
//	k:=v        v as JSON when it parses (42, true, null, "s", [1], {"a":1}), else the string v
//	{"k": …}    one inline JSON object
//	-           a JSON object on stdin (also read when no argument is given and stdin is a pipe or file)
func parseToolArgs(args []string, stdin io.Reader, stdinIsData bool) (json.RawMessage, error) {
	if len(args) == 1 && strings.HasPrefix(strings.TrimSpace(args[0]), "{") {
		return objectJSON([]byte(args[0]), "inline JSON")
	}
	if (len(args) == 1 && args[0] == "-") || (len(args) == 0 && stdinIsData && stdin != nil) {
		b, err := io.ReadAll(io.LimitReader(stdin, maxArgsSize+1))
		if err != nil {
			return nil, clierr.UsageErr("read arguments from stdin: %v", err)
		}
		if len(bytes.TrimSpace(b)) == 0 && len(args) == 0 {
			return json.RawMessage("{}"), nil
		}
		return objectJSON(b, "JSON on stdin")
	}
	obj := map[string]json.RawMessage{}
	var order []string
	size := 0
	for _, a := range args {
		k, v, ok := strings.Cut(a, ":=")
		if !ok {
			hint := "key:=value, e.g. query:=nats count:=3 flags:='[\"a\"]'"
			if strings.Contains(a, "=") {
				hint = fmt.Sprintf("did you mean %s? Arguments use :=", strings.Replace(a, "=", ":=", 1))
			}
			return nil, clierr.WithHint(fmt.Errorf("malformed argument %q: expected key:=value", a), clierr.ExitUsage, hint)
		}
		if k == "" {
			return nil, clierr.UsageErr("malformed argument %q: empty key", a)
		}
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return nil, clierr.UsageErr("argument %q is not valid UTF-8", k)
		}
		size += len(k) + len(v)
		if size > maxArgsSize {
			return nil, clierr.UsageErr("arguments are larger than %d MiB", maxArgsSize>>20)
		}
		var raw json.RawMessage
		if json.Valid([]byte(v)) && v != "" {
			raw = json.RawMessage(v)
		} else {
			b, _ := json.Marshal(v)
			raw = b
		}
		if _, dup := obj[k]; !dup {
			order = append(order, k)
		}
		obj[k] = raw
	}
	// Keep the user's order: servers and logs read better that way.
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range order {
		if i > 0 {
			buf.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		buf.Write(kb)
		buf.WriteByte(':')
		buf.Write(obj[k])
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

func objectJSON(b []byte, what string) (json.RawMessage, error) {
	if len(b) > maxArgsSize {
		return nil, clierr.UsageErr("%s is larger than %d MiB", what, maxArgsSize>>20)
	}
	if !utf8.Valid(b) {
		return nil, clierr.UsageErr("%s is not valid UTF-8", what)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		msg := "not a JSON object"
		if err != nil {
			msg = err.Error()
		}
		return nil, clierr.WithHint(fmt.Errorf("%s: %s", what, msg), clierr.ExitUsage, `an object like {"query": "nats"}`)
	}
	return json.RawMessage(bytes.TrimSpace(b)), nil
}

// stdinIsData reports whether stdin is a pipe or a regular file (not a terminal, not
// /dev/null): only then is it read for arguments without an explicit "-".
func stdinIsData(in io.Reader) bool {
	f, ok := in.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	m := fi.Mode()
	return m&os.ModeNamedPipe != 0 || (m.IsRegular() && fi.Size() > 0)
}
