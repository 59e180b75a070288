package connect

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"

	"github.com/mcpctl/mcpctl/events"
)

// FuzzReadConfig: any file content (and any entry name) is either read into targets that
// are safe to record — valid names, http(s) URLs without credentials, commands that are valid
// UTF-8 — or refused with a usage error (exit 1). Never a panic.
func FuzzReadConfig(f *testing.F) {
	for _, s := range []string{
		`{"mcpServers":{"a":{"command":"npx","args":["-y","pkg"],"env":{"K":"v"}}}}`,
		`{"servers":{"b":{"type":"sse","url":"https://h/sse","headers":{"Authorization":"Bearer ${HOME}"}}}}`,
		`{"mcpServers":{"c":{"url":"https://u:p@h/mcp"}}}`,
		`{"mcpServers":{"d":{"url":"${NOPE_FUZZ_VAR:-http://127.0.0.1/mcp}"}}}`,
		`{"mcpServers":{"e":{}}}`,
		`{"mcpServers":[]}`,
		`[1]`, ``, `null`, `{"mcpServers":{"../x":{"command":"x"}}}`,
		"{\"mcpServers\":{\"a\":{\"command\":\"\xff\"}}}",
		"{\"mcpServers\":{\"a\":{\"command\":\"a\x00\"}}}",
		`{"mcpServers":{"q":{"url":"https://h/mcp?api_key=k&x=1#frag"}}}`,
		`{"mcpServers":{"a":{"command":"x","env":{"A=B":"1"}}}}`,
		`{"servers":{"b":{"url":"https://h/mcp","headers":{"X-A":"a\r\nX-B: b"}}}}`,
	} {
		f.Add([]byte(s), "")
		f.Add([]byte(s), "a")
	}
	f.Fuzz(func(t *testing.T, data []byte, entry string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "mcp.json")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		arg := path
		if entry != "" {
			arg = path + ":" + entry
		}
		targets, err := parseConfigArg(arg)
		if err != nil {
			var ce *clierr.Error
			if !errors.As(err, &ce) || ce.Code != clierr.ExitUsage {
				t.Fatalf("parseConfigArg(%q) on %q: %v is not a usage error", arg, data, err)
			}
			return
		}
		if len(targets) == 0 {
			t.Fatalf("parseConfigArg(%q) on %q: no targets and no error", arg, data)
		}
		for _, tg := range targets {
			if err := events.ValidateSession(tg.Name); err != nil {
				t.Fatalf("target name %q: %v", tg.Name, err)
			}
			switch tg.Server.Transport {
			case events.TransportHTTP, events.TransportSSE:
				u, err := url.Parse(tg.Server.URL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Host == "" {
					t.Fatalf("unsafe URL accepted: %q", tg.Server.URL)
				}
				for k, vs := range u.Query() {
					for _, v := range vs {
						if v != "REDACTED" {
							t.Fatalf("URL to record %q shows query value %s=%q", tg.Server.URL, k, v)
						}
					}
				}
				if u.Fragment != "" {
					t.Fatalf("URL to record %q keeps its fragment", tg.Server.URL)
				}
				for k, v := range tg.Headers {
					if checkHeader(k, v, "fuzz") != nil {
						t.Fatalf("header %q: %q accepted from %q", k, v, data)
					}
				}
			case events.TransportStdio:
				if tg.Server.Command == "" || !utf8.ValidString(tg.Server.Command) {
					t.Fatalf("command %q accepted from %q", tg.Server.Command, data)
				}
				for k := range tg.Env {
					if !homedir.EnvNameRE.MatchString(k) {
						t.Fatalf("env name %q accepted from %q", k, data)
					}
				}
			default:
				t.Fatalf("unknown transport %q", tg.Server.Transport)
			}
		}
	})
}
