// Package oauthtest is a real OAuth authorization server for tests, on 127.0.0.1, with a
// protected MCP-like endpoint: RFC 9728 and RFC 8414 metadata, dynamic registration, an
// authorization endpoint that redirects at once, PKCE and resource checks, access tokens
// that expire, refresh tokens that rotate (a reused one is invalid_grant), client
// credentials, revocation; and knobs that break one thing each, for bad-input tests.
package oauthtest

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// AS is a real authorization server plus a protected MCP endpoint on 127.0.0.1: it
// publishes RFC 9728 and RFC 8414 metadata, registers clients, answers the authorization
// endpoint with an immediate redirect, and issues access tokens that expire after TTL
// with refresh tokens that rotate (a reused one is invalid_grant). Knobs change one thing
// each, for the bad-input tests.
type AS struct {
	*httptest.Server
	TTL time.Duration

	mu         sync.Mutex
	codes      map[string]codeGrant // code → grant
	access     map[string]time.Time // access token → expiry
	refresh    map[string]bool      // refresh token → still valid
	Refreshes  atomic.Int64
	Reused     atomic.Int64 // refreshes with a spent refresh token
	Registered atomic.Int64
	AuthReqs   atomic.Int64
	TokenReqs  atomic.Int64
	LastAuthQ  url.Values
	LastTokenQ url.Values
	n          atomic.Int64

	// knobs
	Scope           string // WWW-Authenticate scope
	ScopesSupported []string
	WrongState      bool
	Iss             string // "": the issuer; "-": none
	AdvertiseIss    bool
	MetadataIssuer  string // "": the issuer
	Resource        string // "": the MCP URL
	RMOtherOrigin   string // a resource_metadata URL to send instead
	NoPKCE          bool
	TokenBody       string // a raw 200 body for the token endpoint instead of a token
	TokenStatus     int
	NoRedirect      bool   // the authorization endpoint never redirects
	MetadataBody    string // a raw text/html 200 body for the AS metadata instead of JSON
	RegisterBody    string // a raw 201 body for registration instead of a client
	Assertion       string // the JWT bearer grant's assertion the server accepts
	IDToken         string // the ID token the IdP (/idp/token) exchanges for an ID-JAG, which then becomes Assertion
	Revoked         atomic.Int64
}

type codeGrant struct {
	challenge, resource, scope string
}

// New starts an AS; it is closed at cleanup.
func New(t testing.TB) *AS {
	t.Helper()
	as := &AS{TTL: time.Hour, codes: map[string]codeGrant{}, access: map[string]time.Time{}, refresh: map[string]bool{}}
	mux := http.NewServeMux()
	as.Server = httptest.NewServer(mux)
	t.Cleanup(as.Close)
	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		res := as.Resource
		if res == "" {
			res = as.URL + "/mcp"
		}
		writeJSON(w, 200, map[string]any{"resource": res, "authorization_servers": []string{as.URL}, "scopes_supported": as.ScopesSupported})
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		if as.MetadataBody != "" {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, as.MetadataBody)
			return
		}
		iss := as.MetadataIssuer
		if iss == "" {
			iss = as.URL
		}
		md := map[string]any{"issuer": iss, "authorization_endpoint": as.URL + "/authorize", "token_endpoint": as.URL + "/token",
			"registration_endpoint": as.URL + "/register", "revocation_endpoint": as.URL + "/revoke",
			"grant_types_supported":                          []string{"authorization_code", "refresh_token", "client_credentials"},
			"token_endpoint_auth_methods_supported":          []string{"none", "client_secret_basic"},
			"scopes_supported":                               []string{"mcp", "offline_access"},
			"authorization_response_iss_parameter_supported": as.AdvertiseIss}
		if !as.NoPKCE {
			md["code_challenge_methods_supported"] = []string{"S256"}
		}
		writeJSON(w, 200, md)
	})
	mux.HandleFunc("/register", func(w http.ResponseWriter, r *http.Request) {
		as.Registered.Add(1)
		if as.RegisterBody != "" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			fmt.Fprint(w, as.RegisterBody)
			return
		}
		writeJSON(w, 201, map[string]any{"client_id": fmt.Sprintf("client-%d", as.n.Add(1)), "token_endpoint_auth_method": "none"})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		as.AuthReqs.Add(1)
		q := r.URL.Query()
		as.mu.Lock()
		as.LastAuthQ = q
		code := fmt.Sprintf("code-%d", as.n.Add(1))
		as.codes[code] = codeGrant{challenge: q.Get("code_challenge"), resource: q.Get("resource"), scope: q.Get("scope")}
		as.mu.Unlock()
		if as.NoRedirect {
			w.WriteHeader(200)
			return
		}
		ru, _ := url.Parse(q.Get("redirect_uri"))
		v := url.Values{"code": {code}, "state": {q.Get("state")}}
		if as.WrongState {
			v.Set("state", "forged")
		}
		switch as.Iss {
		case "":
			v.Set("iss", as.URL)
		case "-":
		default:
			v.Set("iss", as.Iss)
		}
		ru.RawQuery = v.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	})
	mux.HandleFunc("/revoke", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		as.mu.Lock()
		delete(as.refresh, r.PostForm.Get("token"))
		delete(as.access, r.PostForm.Get("token"))
		as.mu.Unlock()
		as.Revoked.Add(1)
	})
	mux.HandleFunc("/token", as.token)
	mux.HandleFunc("/idp/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		if f.Get("grant_type") != "urn:ietf:params:oauth:grant-type:token-exchange" || as.IDToken == "" ||
			f.Get("subject_token") != as.IDToken || f.Get("subject_token_type") != "urn:ietf:params:oauth:token-type:id_token" ||
			f.Get("requested_token_type") != "urn:ietf:params:oauth:token-type:id-jag" || f.Get("audience") != as.URL ||
			f.Get("resource") != as.URL+"/mcp" {
			writeJSON(w, 400, map[string]string{"error": "invalid_request"})
			return
		}
		jag := fmt.Sprintf("eyJ0eXAiOiJvYXV0aC1pZC1qYWcrand0In0.eyJzdWIiOiJ1In0.jag%d", as.n.Add(1))
		as.mu.Lock()
		as.Assertion = jag
		as.mu.Unlock()
		writeJSON(w, 200, map[string]string{"access_token": jag, "issued_token_type": "urn:ietf:params:oauth:token-type:id-jag", "token_type": "N_A"})
	})
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		as.mu.Lock()
		exp, known := as.access[tok]
		as.mu.Unlock()
		if !ok || !known || time.Now().After(exp) {
			ch := fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp"`, as.URL)
			if as.RMOtherOrigin != "" {
				ch = fmt.Sprintf(`Bearer resource_metadata="%s"`, as.RMOtherOrigin)
			}
			if as.Scope != "" {
				ch += fmt.Sprintf(`, scope="%s"`, as.Scope)
			}
			w.Header().Set("WWW-Authenticate", ch)
			writeJSON(w, 401, map[string]string{"error": "invalid_token"})
			return
		}
		writeJSON(w, 200, map[string]any{"jsonrpc": "2.0", "id": 1, "result": map[string]any{}})
	})
	return as
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (as *AS) token(w http.ResponseWriter, r *http.Request) {
	as.TokenReqs.Add(1)
	_ = r.ParseForm()
	f := r.PostForm
	as.mu.Lock()
	as.LastTokenQ = f
	as.mu.Unlock()
	if as.TokenBody != "" {
		st := as.TokenStatus
		if st == 0 {
			st = 200
		}
		w.Header().Set("Content-Type", "text/html")
		if strings.HasPrefix(as.TokenBody, "{") {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(st)
		fmt.Fprint(w, as.TokenBody)
		return
	}
	var scope string
	switch f.Get("grant_type") {
	case "authorization_code":
		as.mu.Lock()
		g, ok := as.codes[f.Get("code")]
		delete(as.codes, f.Get("code"))
		as.mu.Unlock()
		if !ok || oauth2.S256ChallengeFromVerifier(f.Get("code_verifier")) != g.challenge || f.Get("resource") != g.resource {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "bad code, verifier or resource"})
			return
		}
		scope = g.scope
	case "refresh_token":
		as.mu.Lock()
		valid, known := as.refresh[f.Get("refresh_token")]
		if known {
			as.refresh[f.Get("refresh_token")] = false // rotation: spent
		}
		as.mu.Unlock()
		if !known || !valid {
			if known {
				as.Reused.Add(1)
			}
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "refresh token reused or revoked"})
			return
		}
		as.Refreshes.Add(1)
	case "client_credentials":
		if u, pw, ok := r.BasicAuth(); ok {
			if u != "machine" || pw != "s3cret" {
				writeJSON(w, 401, map[string]string{"error": "invalid_client"})
				return
			}
		} else if f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || !validAssertion(f.Get("client_assertion"), as.URL) {
			writeJSON(w, 401, map[string]string{"error": "invalid_client"})
			return
		}
	case "urn:ietf:params:oauth:grant-type:jwt-bearer":
		if as.Assertion == "" || f.Get("assertion") != as.Assertion || f.Get("client_id") == "" {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "assertion refused"})
			return
		}
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	n := as.n.Add(1)
	at, rt := fmt.Sprintf("at-%d-secretvalue", n), fmt.Sprintf("rt-%d-secretvalue", n)
	as.mu.Lock()
	as.access[at] = time.Now().Add(as.TTL)
	as.refresh[rt] = true
	as.mu.Unlock()
	resp := map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(as.TTL / time.Second)}
	if f.Get("grant_type") == "authorization_code" || f.Get("grant_type") == "refresh_token" {
		resp["refresh_token"] = rt
	}
	if scope != "" {
		resp["scope"] = scope
	}
	writeJSON(w, 200, resp)
}

// validAssertion checks the shape and claims of a client assertion (the signature is
// checked in TestClientCredentials_PrivateKeyJWT with the public key).
func validAssertion(a, aud string) bool {
	parts := strings.Split(a, ".")
	if len(parts) != 3 {
		return false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var c struct{ Iss, Sub, Aud string }
	return json.Unmarshal(b, &c) == nil && c.Iss == "machine" && c.Sub == "machine" && c.Aud == aud
}

// Browser follows the authorization URL's redirects to the loopback listener, as a
// $BROWSER script does.
func Browser(t testing.TB) func(string) error {
	return func(u string) error {
		go func() {
			resp, err := http.Get(u)
			if err == nil {
				resp.Body.Close()
			}
		}()
		return nil
	}
}

// LastAuth and LastToken are the last authorization and token request parameters.
func (as *AS) LastAuth() url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.LastAuthQ
}

func (as *AS) LastToken() url.Values {
	as.mu.Lock()
	defer as.mu.Unlock()
	return as.LastTokenQ
}

// Forget makes the server refuse an access token, as after a restart or expiry.
func (as *AS) Forget(accessToken string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	delete(as.access, accessToken)
}

// RevokeRefresh makes the server refuse a refresh token (invalid_grant).
func (as *AS) RevokeRefresh(refreshToken string) {
	as.mu.Lock()
	defer as.mu.Unlock()
	delete(as.refresh, refreshToken)
}
