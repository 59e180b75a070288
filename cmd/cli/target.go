package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mcpctl/mcpctl/events"
)

// Limits on what connect reads.
const maxConfigSize = 4 << 20

// serverTarget is one server to connect to, with its secrets kept apart from the spec that
// goes into the event log.
type serverTarget struct {
	Name    string // suggested session name (config entry, host, command)
	Server  events.Server
	Headers map[string]string
	Env     map[string]string
}

// parseURLTarget accepts http(s) URLs only. Credentials in the URL are refused: they would
// end up in the event log.
func parseURLTarget(raw string) (serverTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return serverTarget{}, usageErr("invalid server URL %q: %v", raw, err)
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return serverTarget{}, withHint(fmt.Errorf("unsupported URL scheme %q in %q", u.Scheme, raw), ExitUsage,
			"use an http:// or https:// URL, a config file (file.json:entry), or -- command args")
	}
	if u.Host == "" {
		return serverTarget{}, usageErr("server URL %q has no host", raw)
	}
	if u.User != nil {
		return serverTarget{}, withHint(fmt.Errorf("server URL %q carries credentials", redactURL(u)), ExitUsage,
			"pass them as a header instead: -H 'Authorization: Bearer …' (header values are kept out of the event log)")
	}
	transport := events.TransportHTTP
	if strings.HasSuffix(u.Path, "/sse") {
		transport = events.TransportSSE
	}
	return serverTarget{Name: nameFromHost(u.Hostname()), Server: events.Server{Transport: transport, URL: u.String()}}, nil
}

func redactURL(u *url.URL) string {
	c := *u
	c.User = url.User("REDACTED")
	return c.String()
}

// parseHeaders turns -H 'Name: value' into a map, rejecting malformed ones.
func parseHeaders(hs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, h := range hs {
		name, value, ok := strings.Cut(h, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, withHint(fmt.Errorf("malformed header %q", h), ExitUsage, "-H 'Name: value'")
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, usageErr("header %s: value contains a line break or NUL", name)
		}
		out[name] = strings.TrimSpace(value)
	}
	return out, nil
}

// configEntry is one server in an mcp.json-style file. Both Claude's "mcpServers" and VS
// Code's "servers" layouts are read.
type configEntry struct {
	Type    string            `json:"type"`
	URL     string            `json:"url"`
	Command string            `json:"command"`
	Args    []string          `json:"args"`
	Env     map[string]string `json:"env"`
	Headers map[string]string `json:"headers"`
	Cwd     string            `json:"cwd"`
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// expandVars replaces ${VAR} (and ${VAR:-default}) from the environment. An unset variable
// without a default is an error: silently connecting with an empty token is worse.
func expandVars(s, where string) (string, error) {
	var missing []string
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRef.FindStringSubmatch(m)
		if v, ok := os.LookupEnv(sub[1]); ok {
			return v
		}
		if sub[2] != "" {
			return sub[2][2:]
		}
		missing = append(missing, sub[1])
		return ""
	})
	if len(missing) > 0 {
		return "", usageErr("%s: environment variable %s is not set", where, strings.Join(missing, ", "))
	}
	return out, nil
}

// readConfig reads the servers of an mcp.json-style file.
func readConfig(path string) (map[string]configEntry, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, usageErr("config file %s does not exist", path)
		}
		return nil, usageErr("config file %s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, usageErr("config file %s is not a regular file", path)
	}
	if fi.Size() > maxConfigSize {
		return nil, usageErr("config file %s is %d bytes, more than the %d a config file may have", path, fi.Size(), maxConfigSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, usageErr("config file %s: %v", path, err)
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD and connect would run a command
	// nobody wrote: refuse it here, at the edge.
	if !utf8.Valid(b) {
		return nil, usageErr("config file %s is not valid UTF-8", path)
	}
	var doc struct {
		MCPServers map[string]configEntry `json:"mcpServers"`
		Servers    map[string]configEntry `json:"servers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, withHint(configJSONError(path, err), ExitUsage, configShapeHint)
	}
	entries := map[string]configEntry{}
	for k, v := range doc.Servers {
		entries[k] = v
	}
	for k, v := range doc.MCPServers {
		entries[k] = v
	}
	if len(entries) == 0 {
		return nil, withHint(fmt.Errorf("config file %s has no servers", path), ExitUsage, configShapeHint)
	}
	return entries, nil
}

const configShapeHint = `{"mcpServers": {"name": {"command": "…", "args": […]}}} or {"servers": {…}}`

// configJSONError says what is wrong with a config file in the file's terms, not Go's.
func configJSONError(path string, err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		want := "a " + te.Type.Kind().String()
		switch te.Type.Kind() {
		case reflect.Map, reflect.Struct:
			want = "an object"
		case reflect.Slice:
			want = "an array"
		}
		where := strings.TrimPrefix(te.Field, ".")
		if where == "" {
			where = "the document"
		}
		return fmt.Errorf("config file %s: %s is a JSON %s where %s is expected", path, where, te.Value, want)
	}
	return fmt.Errorf("config file %s is not valid JSON: %v", path, err)
}

// configTarget turns one entry into a target.
func configTarget(path, name string, e configEntry) (serverTarget, error) {
	where := fmt.Sprintf("%s:%s", path, name)
	t := serverTarget{Name: sanitizeName(name), Headers: map[string]string{}, Env: map[string]string{}}
	t.Server.Source = where
	var err error
	switch {
	case e.URL != "":
		u, err := expandVars(e.URL, where)
		if err != nil {
			return t, err
		}
		ut, err := parseURLTarget(u)
		if err != nil {
			return t, err
		}
		t.Server.Transport, t.Server.URL = ut.Server.Transport, ut.Server.URL
		if e.Type == "sse" {
			t.Server.Transport = events.TransportSSE
		}
	case e.Command != "":
		t.Server.Transport = events.TransportStdio
		if t.Server.Command, err = expandVars(e.Command, where); err != nil {
			return t, err
		}
		for _, a := range e.Args {
			x, err := expandVars(a, where)
			if err != nil {
				return t, err
			}
			t.Server.Args = append(t.Server.Args, x)
		}
		if e.Cwd != "" {
			if t.Server.Cwd, err = expandVars(e.Cwd, where); err != nil {
				return t, err
			}
		}
	default:
		return t, usageErr("%s: the entry has neither \"url\" nor \"command\"", where)
	}
	for k, v := range e.Headers {
		if t.Headers[k], err = expandVars(v, where); err != nil {
			return t, err
		}
	}
	for k, v := range e.Env {
		if t.Env[k], err = expandVars(v, where); err != nil {
			return t, err
		}
	}
	return t, nil
}

// parseConfigArg reads "file.json:entry" or "file.json" (every entry).
func parseConfigArg(arg string) ([]serverTarget, error) {
	path, entry := arg, ""
	if i := strings.LastIndex(arg, ":"); i > 0 && !strings.HasSuffix(arg, ".json") {
		path, entry = arg[:i], arg[i+1:]
	}
	entries, err := readConfig(path)
	if err != nil {
		return nil, err
	}
	if entry != "" {
		e, ok := entries[entry]
		if !ok {
			return nil, withHint(fmt.Errorf("config file %s has no server %q", path, entry), ExitUsage,
				"one of: "+strings.Join(sortedKeys(entries), ", "))
		}
		t, err := configTarget(path, entry, e)
		if err != nil {
			return nil, err
		}
		return []serverTarget{t}, nil
	}
	var out []serverTarget
	for _, name := range sortedKeys(entries) {
		t, err := configTarget(path, name, entries[name])
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// looksLikeConfig says whether a connect argument names a config file.
func looksLikeConfig(arg string) bool {
	path := arg
	if i := strings.LastIndex(arg, ":"); i > 0 && !strings.HasSuffix(arg, ".json") {
		path = arg[:i]
	}
	return strings.HasSuffix(path, ".json") || strings.HasSuffix(path, ".jsonc")
}

// commandTarget is a stdio server given after --.
func commandTarget(argv []string) (serverTarget, error) {
	if len(argv) == 0 || argv[0] == "" {
		return serverTarget{}, usageErr("no command after --")
	}
	name := filepath.Base(argv[0])
	for _, a := range argv[1:] {
		if (name == "npx" || name == "uvx" || name == "node" || name == "python" || name == "python3" || name == "go") &&
			!strings.HasPrefix(a, "-") {
			name = filepath.Base(strings.TrimSuffix(strings.TrimPrefix(a, "@"), "@latest"))
			break
		}
	}
	return serverTarget{Name: sanitizeName(name), Server: events.Server{Transport: events.TransportStdio,
		Command: argv[0], Args: append([]string(nil), argv[1:]...)}}, nil
}

func nameFromHost(host string) string {
	labels := strings.Split(host, ".")
	for _, l := range labels {
		if l != "" && l != "www" && l != "api" && l != "mcp" {
			return sanitizeName(l)
		}
	}
	return sanitizeName(host)
}

// sanitizeName makes a valid session name out of anything.
func sanitizeName(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), "-")
	if len(out) > events.MaxNameLen {
		out = out[:events.MaxNameLen]
	}
	if out == "" {
		out = "session"
	}
	return out
}

// sameServer says whether a running session can be reused for t.
func sameServer(a, b events.Server) bool {
	a.Source, b.Source = "", ""
	a.Secrets, b.Secrets = "", ""
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
