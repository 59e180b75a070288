package oauth

import (
	"errors"
	"net/url"
	"testing"
)

func TestParseChallenge(t *testing.T) {
	for _, c := range []struct {
		in   string
		want Challenge
		ok   bool
	}{
		{`Bearer resource_metadata="https://h/.well-known/oauth-protected-resource", scope="a b"`,
			Challenge{ResourceMetadata: "https://h/.well-known/oauth-protected-resource", Scope: "a b"}, true},
		{`Basic realm="x", Bearer error="insufficient_scope", scope="mcp:write", error_description="needs, more"`,
			Challenge{Error: "insufficient_scope", Scope: "mcp:write", ErrorDescription: "needs, more"}, true},
		{`bearer scope=read`, Challenge{Scope: "read"}, true},
		{`Bearer realm="a \"quoted\" realm", scope="x"`, Challenge{Scope: "x"}, true},
		{`Basic realm="x"`, Challenge{}, false},
		{``, Challenge{}, false},
	} {
		got, ok := ParseChallenge([]string{c.in})
		if got != c.want || ok != c.ok {
			t.Errorf("ParseChallenge(%q) = %+v, %v; want %+v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestCheckResource(t *testing.T) {
	su, _ := url.Parse("https://mcp.example.com/api/mcp")
	for _, c := range []struct {
		resource string
		ok       bool
	}{
		{"https://mcp.example.com/api/mcp", true},
		{"https://mcp.example.com/api/mcp/", true},
		{"https://mcp.example.com", true},     // the origin: a prefix
		{"https://mcp.example.com/api", true}, // a path prefix
		{"https://MCP.example.com/api/mcp", true},
		{"https://mcp.example.com/ap", false}, // not a path segment prefix
		{"https://mcp.example.com/other", false},
		{"https://evil.example.com/api/mcp", false},
		{"http://mcp.example.com/api/mcp", false},
		{"https://mcp.example.com/api/mcp#x", false},
		{"not a url", false},
	} {
		err := checkResource(su, c.resource)
		if (err == nil) != c.ok || (err != nil && !errors.Is(err, ErrResourceMismatch)) {
			t.Errorf("checkResource(%q) = %v; want ok %v", c.resource, err, c.ok)
		}
	}
}

func TestCheckSecure(t *testing.T) {
	for _, c := range []struct {
		u  string
		ok bool
	}{
		{"https://as.example.com", true}, {"http://127.0.0.1:8080", true}, {"http://localhost:1", true},
		{"http://[::1]:1", true}, {"http://as.example.com", false}, {"ftp://127.0.0.1", false},
	} {
		u, _ := url.Parse(c.u)
		if err := checkSecure(u); (err == nil) != c.ok {
			t.Errorf("checkSecure(%s) = %v; want ok %v", c.u, err, c.ok)
		}
	}
}
