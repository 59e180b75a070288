package connect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"

	"github.com/mcpctl/mcpctl/events"
)

// Limits on what connect reads.
const maxConfigSize = 4 << 20

// serverTarget is one server to connect to, with its secrets kept apart from the spec that
// goes into the event log.
type serverTarget struct {
	Name string // suggested session name (config entry, host, command)
	// Derived says Name was not given (@name) but derived from the server.
	Derived bool
	Server  events.Server
	Headers map[string]string
	Env     map[string]string
	// RealURL is the URL with its query when Server.URL shows it redacted; it goes to the
	// secrets file, never to the event log.
	RealURL string
	// ElicitContent is the --elicit JSON answer: it goes to the secrets file.
	ElicitContent json.RawMessage
	// OAuthProfile is connect's --profile/--no-profile (homedir.Secrets.OAuthProfile).
	OAuthProfile string
}

// parseURLTarget accepts http(s) URLs only. Credentials in the URL are refused: they would
// end up in the event log. A query is kept apart like a header: the target's Server.URL (what
// the event log, `sessions` and the logs show) carries its values as REDACTED, and the real
// URL travels to the bridge in the secrets file (RealURL).
func parseURLTarget(raw string) (serverTarget, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return serverTarget{}, clierr.UsageErr("invalid server URL %q: %v", redactRawURL(raw), redactErr(err, raw))
	}
	switch u.Scheme {
	case "http", "https":
	default:
		return serverTarget{}, clierr.WithHint(fmt.Errorf("unsupported URL scheme %q in %q", u.Scheme, redactRawURL(raw)), clierr.ExitUsage,
			"use an http:// or https:// URL, a config file (file.json:entry), or -- command args")
	}
	if u.Host == "" {
		return serverTarget{}, clierr.UsageErr("server URL %q has no host", redactRawURL(raw))
	}
	if u.User != nil {
		return serverTarget{}, clierr.WithHint(fmt.Errorf("server URL %q carries credentials", redactURL(u)), clierr.ExitUsage,
			"pass them as a header instead: -H 'Authorization: Bearer …' (header values are kept out of the event log)")
	}
	transport := events.TransportHTTP
	if strings.HasSuffix(u.Path, "/sse") {
		transport = events.TransportSSE
	}
	t := serverTarget{Name: nameFromHost(u.Hostname()), Server: events.Server{Transport: transport, URL: redactURL(u)}}
	if shown := t.Server.URL; shown != u.String() {
		t.RealURL = u.String()
	}
	return t, nil
}

// redactURL is u as it may be shown and recorded: user info and every query value replaced
// by REDACTED (an API key in "?api_key=…" is as secret as a header), the fragment dropped.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("REDACTED")
	}
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" {
		var parts []string
		for _, kv := range strings.Split(c.RawQuery, "&") {
			k, _, _ := strings.Cut(kv, "=")
			parts = append(parts, k+"=REDACTED")
		}
		c.RawQuery = strings.Join(parts, "&")
	}
	return c.String()
}

// redactRawURL is redactURL for text that does not parse: everything after '?' or '@' goes.
func redactRawURL(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i] + "?REDACTED"
	}
	if i := strings.LastIndex(raw, "@"); i >= 0 {
		if j := strings.Index(raw, "://"); j >= 0 && j < i {
			raw = raw[:j+3] + "REDACTED" + raw[i:]
		}
	}
	return raw
}

// redactErr is a url.Parse error without the URL it quotes (that is said once, redacted).
func redactErr(err error, raw string) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return strings.ReplaceAll(err.Error(), raw, redactRawURL(raw))
}

// envNameRE is what a variable name given to a stdio server may look like: a shell name.
// "A B", "A=B" or an empty name would make an environment entry that means something else.

// checkEnvName refuses a variable name that is not a shell name; where says where it came from.
func checkEnvName(name, where string) error {
	if !homedir.EnvNameRE.MatchString(name) {
		return clierr.WithHint(fmt.Errorf("%s: invalid environment variable name %q", where, name), clierr.ExitUsage,
			"names are letters, digits and _, not starting with a digit: -e NAME=value")
	}
	return nil
}

// checkHeader refuses a header that net/http would reject at send time (or worse, split):
// a name that is not an HTTP token, a value with a line break or another control character.
// The value is never quoted: it is a secret.
func checkHeader(name, value, where string) error {
	if !validHeaderName(name) {
		return clierr.WithHint(fmt.Errorf("%s: invalid header name %q", where, name), clierr.ExitUsage,
			"header names are letters, digits and !#$%&'*+-.^_`|~ (no spaces or colons)")
	}
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return clierr.UsageErr("%s: the value of header %s contains a line break or another control character", where, name)
		}
	}
	return nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

// parseHeaders turns -H 'Name: value' into a map, rejecting malformed ones. Errors name the
// header by position, never by its text: a line without a colon may be nothing but a token.
func parseHeaders(hs []string) (map[string]string, error) {
	out := map[string]string{}
	for i, h := range hs {
		where := fmt.Sprintf("header %d", i+1)
		name, value, ok := strings.Cut(h, ":")
		if !ok {
			return nil, clierr.WithHint(fmt.Errorf("malformed %s: no colon between name and value (the text is not shown: it may be a secret)", where),
				clierr.ExitUsage, "-H 'Name: value'")
		}
		name = strings.TrimSpace(name)
		if name == "" || strings.ContainsAny(name, " \t\r\n") {
			return nil, clierr.WithHint(fmt.Errorf("malformed %s: the name before the colon is empty or has spaces", where), clierr.ExitUsage, "-H 'Name: value'")
		}
		if strings.ContainsAny(value, "\r\n\x00") {
			return nil, clierr.UsageErr("header %s: value contains a line break or NUL", name)
		}
		value = strings.TrimSpace(value)
		if err := checkHeader(name, value, where); err != nil {
			return nil, err
		}
		out[name] = value
	}
	return out, nil
}

// readHeaderArgs expands -H @file (one header a line) and -H - (the same from stdin) so that
// header values need not be on a command line, where other users of the machine see them.
// Blank lines and lines starting with # are skipped.
func readHeaderArgs(hs []string, stdin io.Reader) ([]string, error) {
	var out []string
	usedStdin := false
	for _, h := range hs {
		var b []byte
		var err error
		switch {
		case h == "-":
			if usedStdin {
				return nil, clierr.UsageErr("-H - given twice: stdin can be read once")
			}
			usedStdin = true
			if stdin == nil {
				return nil, clierr.UsageErr("-H -: no stdin")
			}
			b, err = io.ReadAll(io.LimitReader(stdin, maxHeaderFile+1))
			if err != nil {
				return nil, clierr.UsageErr("-H -: read stdin: %v", err)
			}
		case strings.HasPrefix(h, "@"):
			path := h[1:]
			fi, err := os.Stat(path)
			if err != nil {
				return nil, clierr.UsageErr("-H @%s: %v", path, errors.Unwrap(err))
			}
			if !fi.Mode().IsRegular() {
				return nil, clierr.UsageErr("-H @%s: not a regular file", path)
			}
			if b, err = os.ReadFile(path); err != nil {
				return nil, clierr.UsageErr("-H @%s: %v", path, errors.Unwrap(err))
			}
		default:
			out = append(out, h)
			continue
		}
		if len(b) > maxHeaderFile {
			return nil, clierr.UsageErr("-H %s: more than %d bytes of headers", h, maxHeaderFile)
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSuffix(line, "\r")
			if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			out = append(out, line)
		}
	}
	return out, nil
}

const maxHeaderFile = 1 << 20

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
		return "", clierr.UsageErr("%s: environment variable %s is not set", where, strings.Join(missing, ", "))
	}
	return out, nil
}

// readConfig reads the servers of an mcp.json-style file.
func readConfig(path string) (map[string]configEntry, error) {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, clierr.UsageErr("config file %s does not exist", path)
		}
		return nil, clierr.UsageErr("config file %s: %v", path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, clierr.UsageErr("config file %s is not a regular file", path)
	}
	if fi.Size() > maxConfigSize {
		return nil, clierr.UsageErr("config file %s is %d bytes, more than the %d a config file may have", path, fi.Size(), maxConfigSize)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, clierr.UsageErr("config file %s: %v", path, err)
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD and connect would run a command
	// nobody wrote: refuse it here, at the edge.
	if !utf8.Valid(b) {
		return nil, clierr.UsageErr("config file %s is not valid UTF-8", path)
	}
	var doc struct {
		MCPServers map[string]configEntry `json:"mcpServers"`
		Servers    map[string]configEntry `json:"servers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, clierr.WithHint(configJSONError(path, err), clierr.ExitUsage, configShapeHint)
	}
	entries := map[string]configEntry{}
	for k, v := range doc.Servers {
		entries[k] = v
	}
	for k, v := range doc.MCPServers {
		entries[k] = v
	}
	if len(entries) == 0 {
		return nil, clierr.WithHint(fmt.Errorf("config file %s has no servers", path), clierr.ExitUsage, configShapeHint)
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
		t.Server.Transport, t.Server.URL, t.RealURL = ut.Server.Transport, ut.Server.URL, ut.RealURL
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
		return t, clierr.UsageErr("%s: the entry has neither \"url\" nor \"command\"", where)
	}
	for _, k := range sortedKeys(e.Headers) {
		v, err := expandVars(e.Headers[k], where)
		if err != nil {
			return t, err
		}
		if err := checkHeader(k, v, where+": headers"); err != nil {
			return t, err
		}
		t.Headers[k] = v
	}
	for _, k := range sortedKeys(e.Env) {
		if err := checkEnvName(k, where+": env"); err != nil {
			return t, err
		}
		if t.Env[k], err = expandVars(e.Env[k], where); err != nil {
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
			return nil, clierr.WithHint(fmt.Errorf("config file %s has no server %q", path, entry), clierr.ExitUsage,
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
		return serverTarget{}, clierr.UsageErr("no command after --")
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

// nameFromHost is the session name connect derives from a URL's host when no @name is
// given, as mcpc does (mcp.apify.com → apify): the first label that is not www, api or mcp.
// An IP address keeps all of itself (127.0.0.1 → 127-0-0-1: "127" alone says nothing; an
// IPv6 one says so, ::1 → ip6-1).
func nameFromHost(host string) string {
	if ip := net.ParseIP(host); ip != nil {
		if ip.To4() == nil {
			return sanitizeName("ip6-" + strings.Trim(host, ":")) // ::1 → ip6-1, not "1"
		}
		return sanitizeName(host)
	}
	labels := strings.Split(strings.ToLower(host), ".")
	for _, l := range labels {
		if l != "" && l != "www" && l != "api" && l != "mcp" {
			return sanitizeName(l)
		}
	}
	return sanitizeName(host)
}

// bareHostURL is arg with a scheme when arg is a server given without one, as mcpc takes it
// ("mcp.example.com/mcp", "localhost:8080/mcp"), and "" when arg is not such a host. A host
// is "localhost", has a dot in its name, or is followed by a port; a name alone ("docs")
// or a path ("./server.py") is not one. Loopback hosts get http:// (local servers seldom
// have TLS, and their traffic does not leave the machine), everything else https://.
func bareHostURL(arg string) string {
	if arg == "" || strings.Contains(arg, "://") || !(isAlnum(arg[0]) || arg[0] == '[') {
		return ""
	}
	hostport, _, _ := strings.Cut(arg, "/")
	if strings.ContainsAny(hostport, "?#@ \t") {
		return ""
	}
	u, err := url.Parse("https://" + arg)
	if err != nil || u.Host != hostport || u.Hostname() == "" {
		return ""
	}
	host := u.Hostname()
	if !(host == "localhost" || strings.Contains(host, ".") || strings.Contains(host, ":") || u.Port() != "") {
		return ""
	}
	if isLoopback(host) {
		return "http://" + arg
	}
	return "https://" + arg
}

// isLoopback says whether host names this machine: localhost (and its subdomains, which
// resolve to loopback by RFC 6761), 127.0.0.0/8, ::1.
func isLoopback(host string) bool {
	h := strings.ToLower(host)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
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

// asksOnlyDiffer says whether a and b are the same server with another policy for its
// asks: what a connect may change on an open session (a restart with the new policy).
func asksOnlyDiffer(a, b events.Server) bool {
	a.Asks, b.Asks = nil, nil
	return sameServer(a, b)
}

// sameCapabilities says whether two policies declare the same client capabilities (roots,
// sampling; elicitation is always declared): then the server's MCP session can be kept
// across the change, and only told that the roots changed.
func sameCapabilities(a, b *events.AskPolicy) bool {
	var x, y events.AskPolicy
	if a != nil {
		x = *a
	}
	if b != nil {
		y = *b
	}
	return (len(x.Roots) > 0) == (len(y.Roots) > 0) && (x.SamplingCommand != "") == (y.SamplingCommand != "")
}
