package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// Challenge is a Bearer WWW-Authenticate challenge (RFC 6750 §3, RFC 9728 §5.1).
type Challenge struct {
	ResourceMetadata string // resource_metadata: where the protected resource metadata is
	Scope            string // scope the resource asks for (space-separated)
	Error            string // invalid_token, insufficient_scope, …
	ErrorDescription string
}

// ParseChallenge finds the Bearer (or DPoP, RFC 9449 §7.1) challenge among WWW-Authenticate
// header values.
func ParseChallenge(values []string) (Challenge, bool) {
	for _, v := range values {
		for _, c := range splitChallenges(v) {
			scheme, params, _ := strings.Cut(strings.TrimSpace(c), " ")
			if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP") {
				continue
			}
			p := parseAuthParams(params)
			return Challenge{ResourceMetadata: p["resource_metadata"], Scope: p["scope"], Error: p["error"],
				ErrorDescription: p["error_description"]}, true
		}
	}
	return Challenge{}, false
}

// splitChallenges splits a header value that may hold several challenges ("Basic
// realm=x, Bearer scope=y"): a new one starts where a token is followed by a space
// and not by "=".
func splitChallenges(v string) []string {
	var out []string
	start := 0
	inQuote := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\' && inQuote:
			i++
		case c == '"':
			inQuote = !inQuote
		case c == ',' && !inQuote:
			rest := strings.TrimLeft(v[i+1:], " ")
			tok, after, ok := strings.Cut(rest, " ")
			if ok && !strings.Contains(tok, "=") && !strings.HasPrefix(strings.TrimLeft(after, " "), "=") {
				out = append(out, v[start:i])
				start = i + 1
			}
		}
	}
	return append(out, v[start:])
}

func parseAuthParams(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ,")
		k, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		k = strings.ToLower(strings.TrimSpace(k))
		rest = strings.TrimLeft(rest, " ")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if rest[i] == '"' {
					break
				}
				b.WriteByte(rest[i])
			}
			val = b.String()
			if i < len(rest) {
				i++
			}
			s = rest[i:]
		} else {
			val, s, _ = strings.Cut(rest, ",")
			val = strings.TrimSpace(val)
		}
		if _, dup := out[k]; !dup {
			out[k] = val
		}
	}
	return out
}

// ResourceMetadata is OAuth 2.0 protected resource metadata (RFC 9728).
type ResourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported,omitempty"`
}

// ServerMetadata is authorization server metadata (RFC 8414, or OpenID Connect discovery).
type ServerMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	IssParameterSupported             bool     `json:"authorization_response_iss_parameter_supported,omitempty"`
	ClientIDMetadataDocumentSupported bool     `json:"client_id_metadata_document_supported,omitempty"`
	DPoPSigningAlgValuesSupported     []string `json:"dpop_signing_alg_values_supported,omitempty"`
}

// Discovery is what the client learned about a server before it authorizes.
type Discovery struct {
	ServerURL string
	Challenge Challenge
	// Resource is the server's protected resource metadata; nil for a server that
	// publishes none (2025-03-26 servers).
	Resource *ResourceMetadata
	// ResourceID is the resource indicator (RFC 8707) sent to the authorization server:
	// the metadata's resource exactly as published, else the server URL.
	ResourceID string
	// Issuer is the authorization server's issuer identifier, checked against its metadata.
	Issuer string
	AS     ServerMetadata
	// Legacy: no metadata at all; the endpoints are the 2025-03-26 defaults at the server's
	// origin (/authorize, /token, /register).
	Legacy bool
}

// maxMetadata bounds what is read of a metadata document.
const maxMetadata = 1 << 20

// Probe sends one unauthenticated MCP initialize to the server and returns the Bearer
// challenge it answers with (ok false: it answered without one, e.g. 200).
func Probe(ctx context.Context, hc *http.Client, serverURL string) (Challenge, bool, error) {
	body := []byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25",` +
		`"capabilities":{},"clientInfo":{"name":"mcpctl","version":"login"}}}`)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, bytes.NewReader(body))
	if err != nil {
		return Challenge{}, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := hc.Do(req)
	if err != nil {
		return Challenge{}, false, fmt.Errorf("probe %s: %w", redactURL(serverURL), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxMetadata))
	_ = resp.Body.Close()
	c, ok := ParseChallenge(resp.Header.Values("WWW-Authenticate"))
	return c, ok, nil
}

// Discover finds the server's protected resource metadata and its authorization server's
// metadata. ch is the challenge the server answered with (zero: none).
func Discover(ctx context.Context, hc *http.Client, serverURL string, ch Challenge) (*Discovery, error) {
	su, err := url.Parse(serverURL)
	if err != nil || su.Host == "" || (su.Scheme != "http" && su.Scheme != "https") {
		return nil, &Error{Op: "discover", Server: serverURL, Err: fmt.Errorf("%w: not an http(s) URL", ErrMetadata)}
	}
	if err := checkSecure(su); err != nil {
		return nil, &Error{Op: "discover", Server: serverURL, Err: err}
	}
	d := &Discovery{ServerURL: serverURL, Challenge: ch}
	rm, err := fetchResourceMetadata(ctx, hc, su, ch.ResourceMetadata)
	if err != nil {
		return nil, &Error{Op: "discover", Server: serverURL, Err: err}
	}
	var asURL string
	if rm != nil {
		if err := checkResource(su, rm.Resource); err != nil {
			return nil, &Error{Op: "discover", Server: serverURL, Err: err}
		}
		if len(rm.AuthorizationServers) == 0 {
			return nil, &Error{Op: "discover", Server: serverURL, Err: fmt.Errorf("%w: protected resource metadata names no authorization server", ErrMetadata)}
		}
		d.Resource, d.ResourceID, asURL = rm, rm.Resource, rm.AuthorizationServers[0]
	} else {
		// 2025-03-26: the authorization server is the MCP server's origin.
		d.ResourceID = canonicalResource(su)
		asURL = su.Scheme + "://" + su.Host
	}
	au, err := url.Parse(asURL)
	if err != nil || au.Host == "" {
		return nil, &Error{Op: "discover", Server: serverURL, Err: fmt.Errorf("%w: authorization server %q is not a URL", ErrMetadata, asURL)}
	}
	if err := checkSecure(au); err != nil {
		return nil, &Error{Op: "discover", Server: serverURL, Err: err}
	}
	md, found, err := fetchServerMetadata(ctx, hc, au)
	if err != nil {
		return nil, &Error{Op: "discover", Server: serverURL, Err: err}
	}
	switch {
	case found:
		if md.Issuer != asURL {
			return nil, &Error{Op: "discover", Server: serverURL, Err: fmt.Errorf("%w: fetched for %s, says %q", ErrIssuerMismatch, asURL, md.Issuer)}
		}
		if md.AuthorizationEndpoint == "" || md.TokenEndpoint == "" {
			return nil, &Error{Op: "discover", Server: serverURL, Err: fmt.Errorf("%w: authorization_endpoint or token_endpoint missing", ErrMetadata)}
		}
		for _, e := range []string{md.AuthorizationEndpoint, md.TokenEndpoint, md.RegistrationEndpoint, md.RevocationEndpoint} {
			if e == "" {
				continue
			}
			eu, err := url.Parse(e)
			if err != nil || eu.Host == "" {
				return nil, &Error{Op: "discover", Server: serverURL, Err: fmt.Errorf("%w: endpoint %q is not a URL", ErrMetadata, e)}
			}
			if err := checkSecure(eu); err != nil {
				return nil, &Error{Op: "discover", Server: serverURL, Err: err}
			}
		}
		d.AS, d.Issuer = md, md.Issuer
	case rm == nil:
		// No metadata anywhere: the 2025-03-26 default endpoints at the server's origin.
		base := su.Scheme + "://" + su.Host
		d.AS = ServerMetadata{AuthorizationEndpoint: base + "/authorize", TokenEndpoint: base + "/token",
			RegistrationEndpoint: base + "/register", CodeChallengeMethodsSupported: []string{"S256"}}
		d.Legacy = true
	default:
		return nil, &Error{Op: "discover", Server: serverURL, Err: fmt.Errorf("%w: no authorization server metadata for %s (RFC 8414 or OpenID discovery)", ErrMetadata, asURL)}
	}
	return d, nil
}

// Scopes chooses what to ask for: the challenge's scope, else the resource's
// scopes_supported, else nothing (the authorization server's default). offline_access is
// added when the authorization server lists it and offers refresh tokens.
func (d *Discovery) Scopes() []string {
	var s []string
	switch {
	case d.Challenge.Scope != "":
		s = strings.Fields(d.Challenge.Scope)
	case d.Resource != nil && len(d.Resource.ScopesSupported) > 0:
		s = slices.Clone(d.Resource.ScopesSupported)
	}
	return d.withOfflineAccess(s)
}

func (d *Discovery) withOfflineAccess(s []string) []string {
	if len(s) == 0 || slices.Contains(s, "offline_access") {
		return s
	}
	if slices.Contains(d.AS.ScopesSupported, "offline_access") &&
		(len(d.AS.GrantTypesSupported) == 0 || slices.Contains(d.AS.GrantTypesSupported, "refresh_token")) {
		s = append(s, "offline_access")
	}
	return s
}

// fetchResourceMetadata reads RFC 9728 metadata: from the challenge's URL when it names
// one (same origin as the server only), else from the well-known paths, path-based first.
// nil, nil: the server publishes none.
func fetchResourceMetadata(ctx context.Context, hc *http.Client, su *url.URL, fromChallenge string) (*ResourceMetadata, error) {
	var candidates []string
	if fromChallenge != "" {
		cu, err := url.Parse(fromChallenge)
		if err != nil || cu.Host == "" {
			return nil, fmt.Errorf("%w: resource_metadata %q is not a URL", ErrMetadata, fromChallenge)
		}
		if err := checkSecure(cu); err != nil {
			return nil, err
		}
		if !strings.EqualFold(cu.Scheme, su.Scheme) || !strings.EqualFold(cu.Host, su.Host) {
			return nil, fmt.Errorf("%w: resource_metadata %s is on another origin than the server (%s://%s)", ErrMetadata,
				redactURL(fromChallenge), su.Scheme, su.Host)
		}
		candidates = []string{fromChallenge}
	} else {
		base := su.Scheme + "://" + su.Host + "/.well-known/oauth-protected-resource"
		if p := strings.TrimSuffix(su.EscapedPath(), "/"); p != "" {
			candidates = append(candidates, base+p)
		}
		candidates = append(candidates, base)
	}
	for _, c := range candidates {
		var rm ResourceMetadata
		found, err := getJSON(ctx, hc, c, &rm)
		if err != nil {
			if fromChallenge != "" {
				return nil, err
			}
			continue // a well-known path that is not metadata: try the next
		}
		if found {
			return &rm, nil
		}
		if fromChallenge != "" {
			return nil, fmt.Errorf("%w: resource_metadata %s not found", ErrMetadata, redactURL(c))
		}
	}
	return nil, nil
}

// fetchServerMetadata tries RFC 8414 then OpenID discovery, with the issuer's path inserted
// after the well-known prefix, and for OpenID also appended (the two forms in use).
func fetchServerMetadata(ctx context.Context, hc *http.Client, au *url.URL) (ServerMetadata, bool, error) {
	origin := au.Scheme + "://" + au.Host
	p := strings.TrimSuffix(au.EscapedPath(), "/")
	var candidates []string
	if p == "" {
		candidates = []string{origin + "/.well-known/oauth-authorization-server", origin + "/.well-known/openid-configuration"}
	} else {
		candidates = []string{origin + "/.well-known/oauth-authorization-server" + p,
			origin + "/.well-known/openid-configuration" + p, origin + p + "/.well-known/openid-configuration"}
	}
	var firstErr error
	for _, c := range candidates {
		var md ServerMetadata
		found, err := getJSON(ctx, hc, c, &md)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if found {
			return md, true, nil
		}
	}
	if firstErr != nil {
		return ServerMetadata{}, false, firstErr
	}
	return ServerMetadata{}, false, nil
}

// getJSON GETs a metadata document. found false (no error) for a 404 or 405; an error
// for another status, a body that is not a JSON object, or a network failure.
func getJSON(ctx context.Context, hc *http.Client, u string, into any) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return false, fmt.Errorf("%w: GET %s: %v", ErrMetadata, redactURL(u), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxMetadata))
	switch {
	case resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusMethodNotAllowed:
		return false, nil
	case resp.StatusCode != http.StatusOK:
		return false, fmt.Errorf("%w: GET %s: %s", ErrMetadata, redactURL(u), resp.Status)
	}
	if ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); ct != "" && ct != "application/json" && !strings.HasSuffix(ct, "+json") {
		return false, fmt.Errorf("%w: GET %s: content type %s, not JSON", ErrMetadata, redactURL(u), ct)
	}
	if err := json.Unmarshal(b, into); err != nil || !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		return false, fmt.Errorf("%w: GET %s: not a JSON object (%s)", ErrMetadata, redactURL(u), snippet(b))
	}
	return true, nil
}

// checkResource accepts protected resource metadata whose resource is the server's URL or
// a prefix of it on the same origin (a server at https://h/mcp may publish https://h).
func checkResource(su *url.URL, resource string) error {
	ru, err := url.Parse(resource)
	if err != nil || ru.Host == "" || ru.Fragment != "" {
		return fmt.Errorf("%w: %q is not a resource URI", ErrResourceMismatch, resource)
	}
	if !strings.EqualFold(ru.Scheme, su.Scheme) || !strings.EqualFold(ru.Host, su.Host) {
		return fmt.Errorf("%w: %s is not %s", ErrResourceMismatch, resource, canonicalResource(su))
	}
	rp := strings.TrimSuffix(ru.EscapedPath(), "/")
	sp := strings.TrimSuffix(su.EscapedPath(), "/")
	if rp != "" && rp != sp && !strings.HasPrefix(sp, rp+"/") {
		return fmt.Errorf("%w: %s is not %s", ErrResourceMismatch, resource, canonicalResource(su))
	}
	return nil
}

// canonicalResource is the server URL as a resource indicator: no fragment, no query, no
// trailing slash.
func canonicalResource(u *url.URL) string {
	c := *u
	c.Fragment, c.RawQuery, c.User = "", "", nil
	c.Scheme, c.Host = strings.ToLower(c.Scheme), strings.ToLower(c.Host)
	s := c.String()
	if c.Path != "/" {
		s = strings.TrimSuffix(s, "/")
	}
	return s
}

// checkSecure refuses plain http except to a loopback host.
func checkSecure(u *url.URL) error {
	if strings.EqualFold(u.Scheme, "https") {
		return nil
	}
	if strings.EqualFold(u.Scheme, "http") && isLoopback(u.Hostname()) {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInsecureURL, redactURL(u.String()))
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// redactURL drops a URL's query and user info: they may carry secrets.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.User, u.Fragment = "", nil, ""
	return u.String()
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	if s == "" {
		return "empty"
	}
	return fmt.Sprintf("%q", s)
}

var errNotJSON = errors.New("not JSON")
