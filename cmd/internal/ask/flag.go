package ask

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/events"
)

// ElicitFlagUsage describes the --elicit values (connect's and a call's).
const ElicitFlagUsage = "decline, cancel, defaults (accept with the schema's defaults), a JSON object or @file.json (accept with it; kept secret)"

// ParseElicitFlag reads an --elicit value: decline ("" too), cancel, defaults, a JSON
// object or @file.json holding one (events.ElicitContent, with the object compacted).
// Error texts never quote the content: it may be as secret as a header.
func ParseElicitFlag(v string) (events.ElicitPolicy, json.RawMessage, error) {
	switch v = strings.TrimSpace(v); {
	case v == "" || v == string(events.ElicitDecline):
		return events.ElicitDecline, nil, nil
	case v == string(events.ElicitCancel), v == string(events.ElicitDefaults):
		return events.ElicitPolicy(v), nil, nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return "", nil, clierr.UsageErr("--elicit %s: %v", v, err)
		}
		content, err := jsonObject(b)
		if err != nil {
			return "", nil, clierr.UsageErr("--elicit %s: %v", v, err)
		}
		return events.ElicitContent, content, nil
	case strings.HasPrefix(v, "{"):
		content, err := jsonObject([]byte(v))
		if err != nil {
			return "", nil, clierr.UsageErr("--elicit JSON: %v", err)
		}
		return events.ElicitContent, content, nil
	}
	return "", nil, clierr.WithHint(errors.New("--elicit: not decline, cancel, defaults, a JSON object or @file.json"), clierr.ExitUsage,
		`--elicit defaults, --elicit '{"name":"x"}' or --elicit @answer.json`)
}

// jsonObject is b compacted, when b is exactly one JSON object.
func jsonObject(b []byte) (json.RawMessage, error) {
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	if dec.More() {
		return nil, fmt.Errorf("more than one JSON value")
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return nil, fmt.Errorf("not a JSON object")
	}
	return out.Bytes(), nil
}
