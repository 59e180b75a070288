package connect

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"

	"github.com/mcpctl/mcpctl/events"
)

func TestParseURLTarget_QueryValuesGoToTheSecretsFile(t *testing.T) {
	for _, tc := range []struct {
		raw, shown, real string
	}{
		{"https://h/mcp", "https://h/mcp", ""},
		{"https://h/mcp?api_key=s3cr3t", "https://h/mcp?api_key=REDACTED", "https://h/mcp?api_key=s3cr3t"},
		{"https://h/mcp?a=1&b=2&flag", "https://h/mcp?a=REDACTED&b=REDACTED&flag=REDACTED", "https://h/mcp?a=1&b=2&flag"},
		{"https://h/mcp#tok3n", "https://h/mcp", "https://h/mcp#tok3n"},
	} {
		tg, err := parseURLTarget(tc.raw)
		if err != nil {
			t.Fatalf("parseURLTarget(%q): %v", tc.raw, err)
		}
		if tg.Server.URL != tc.shown || tg.RealURL != tc.real {
			t.Errorf("parseURLTarget(%q): shown %q, real %q; want %q, %q", tc.raw, tg.Server.URL, tg.RealURL, tc.shown, tc.real)
		}
	}
	// Errors about a URL say what is wrong without its query.
	for _, raw := range []string{"ftp://h/x?api_key=s3cr3t", "http://[::1?api_key=s3cr3t"} {
		if _, err := parseURLTarget(raw); err == nil || strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("parseURLTarget(%q): error %v, want one without the query's value", raw, err)
		}
	}
}

func TestParseHeaders(t *testing.T) {
	got, err := parseHeaders([]string{"Authorization: Bearer x", "X-Api-Key:k ", "X-Empty:"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"Authorization": "Bearer x", "X-Api-Key": "k", "X-Empty": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseHeaders = %v, want %v", got, want)
	}
	for _, tc := range []struct {
		name string
		in   []string
		say  string
	}{
		{"no colon, by position", []string{"X-A: 1", "Bearer s3cr3t"}, "malformed header 2"},
		{"space in the name", []string{"X Y: s3cr3t"}, "malformed header 1"},
		{"CRLF in the value", []string{"X-A: s3cr3t\r\nX-B: 1"}, "line break"},
		{"escape in the value", []string{"X-A: s3cr3t\x1b[0m"}, "control character"},
		{"name not a token", []string{"X(A): s3cr3t"}, "invalid header name"},
	} {
		_, err := parseHeaders(tc.in)
		var ce *clierr.Error
		if !errors.As(err, &ce) || ce.Code != clierr.ExitUsage || !strings.Contains(err.Error(), tc.say) {
			t.Errorf("%s: parseHeaders(%q) = %v, want a usage error saying %q", tc.name, tc.in, err, tc.say)
		}
		if err != nil && strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: the error repeats the value: %v", tc.name, err)
		}
	}
}

func TestReadHeaderArgs_FileAndStdin(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "h")
	if err := os.WriteFile(file, []byte("# tokens\nX-A: 1\r\n\nX-B: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readHeaderArgs([]string{"X-0: 0", "@" + file, "-"}, strings.NewReader("X-C: 3"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"X-0: 0", "X-A: 1", "X-B: 2", "X-C: 3"}; !reflect.DeepEqual(got, want) {
		t.Errorf("readHeaderArgs = %q, want %q", got, want)
	}
	for _, in := range [][]string{{"-", "-"}, {"@" + filepath.Join(dir, "nosuch")}, {"@" + dir}} {
		if _, err := readHeaderArgs(in, strings.NewReader("")); err == nil {
			t.Errorf("readHeaderArgs(%q): no error", in)
		}
	}
}

func TestCheckEnvName(t *testing.T) {
	for _, ok := range []string{"A", "_a1", "PATH"} {
		if err := checkEnvName(ok, "-e"); err != nil {
			t.Errorf("checkEnvName(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "A B", "A=B", "1A", "A-B", "A\x00"} {
		if err := checkEnvName(bad, "-e"); err == nil {
			t.Errorf("checkEnvName(%q): accepted", bad)
		}
	}
}

func TestBareHostURL_AHostWithoutASchemeIsHTTPS(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mcp.example.com/mcp", "https://mcp.example.com/mcp"},
		{"mcp.example.com", "https://mcp.example.com"},
		{"example.com:8443/mcp", "https://example.com:8443/mcp"},
		{"Example.COM/mcp", "https://Example.COM/mcp"},
		{"myhost:8080/mcp", "https://myhost:8080/mcp"},
		// Loopback: http://, as mcpc does (local servers seldom have TLS).
		{"localhost:8080/mcp", "http://localhost:8080/mcp"},
		{"localhost/mcp", "http://localhost/mcp"},
		{"127.0.0.1:3000/mcp", "http://127.0.0.1:3000/mcp"},
		{"127.1.2.3/mcp", "http://127.1.2.3/mcp"},
		{"[::1]:8080/mcp", "http://[::1]:8080/mcp"},
		{"app.localhost:8080/mcp", "http://app.localhost:8080/mcp"},
		{"10.0.0.5:8080/mcp", "https://10.0.0.5:8080/mcp"},
		// Not hosts.
		{"docs", ""},
		{"./server.py", ""},
		{"/usr/bin/server", ""},
		{"-x", ""},
		{"", ""},
		{"https://h/mcp", ""},
		{"user@example.com/mcp", ""},
		{"example.com?x=1", ""},
		{"exa mple.com/mcp", ""},
		{"example.com:notaport/mcp", ""},
	} {
		if got := bareHostURL(tc.in); got != tc.want {
			t.Errorf("bareHostURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNameFromHost_AsMcpcDerivesIt(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mcp.apify.com", "apify"},
		{"mcp.example.com", "example"},
		{"www.api.github.com", "github"},
		{"Docs.Example.com", "docs"},
		{"localhost", "localhost"},
		{"127.0.0.1", "127-0-0-1"},
		{"::1", "ip6-1"},
		{"fe80::1", "ip6-fe80--1"},
		{"mcp", "mcp"},
	} {
		got := nameFromHost(tc.in)
		if got != tc.want {
			t.Errorf("nameFromHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if err := events.ValidateSessionName(got); err != nil {
			t.Errorf("nameFromHost(%q) = %q: not a valid session name: %v", tc.in, got, err)
		}
	}
}
