package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// DefaultSkew is how long before its expiry a token is refreshed.
const DefaultSkew = 30 * time.Second

// Refreshed says what Fresh did.
type Refreshed int

const (
	Unchanged  Refreshed = iota // the stored token was good
	PickedUp                    // another holder had refreshed it already
	DidRefresh                  // this call refreshed it
)

// Fresh returns the profile with an access token that is valid for at least skew and is
// not stale (the token the server just refused, "" for none). Refreshes are serialized per
// profile: lock, re-read, refresh only if the stored token still needs it. So when several
// bridges and CLIs share a profile whose authorization server rotates refresh tokens, the
// first refresh takes effect and everyone else picks up its result.
func (s Store) Fresh(ctx context.Context, hc *http.Client, serverURL, profile, stale string, skew time.Duration) (*Profile, Refreshed, error) {
	p, err := s.Load(serverURL, profile)
	if err != nil {
		return nil, Unchanged, err
	}
	if good(p, stale, skew) {
		return p, Unchanged, nil
	}
	unlock, err := s.Lock(serverURL, profile)
	if err != nil {
		return nil, Unchanged, err
	}
	defer unlock()
	before := p.Token.AccessToken
	if p, err = s.Load(serverURL, profile); err != nil {
		return nil, Unchanged, err
	}
	if good(p, stale, skew) {
		if p.Token.AccessToken != before {
			return p, PickedUp, nil
		}
		return p, Unchanged, nil
	}
	if stale != "" && p.Token.AccessToken != stale && p.Token.AccessToken != before {
		return p, PickedUp, nil // refreshed since the refused token; its expiry is its own business
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	hc = noRedirects(hc)
	var tok *oauth2.Token
	switch {
	case p.Grant == "client_credentials":
		tok, err = clientCredentialsToken(ctx, hc, p.Client, p.TokenEndpoint, p.Issuer, p.Resource, p.Scopes)
	case p.Grant == jwtBearerGrant:
		tok, err = jwtBearerToken(ctx, hc, p, p.TokenEndpoint, p.Issuer, p.Resource)
	case p.Token.RefreshToken == "":
		return p, Unchanged, &Error{Op: "refresh", Server: redactURL(serverURL), Err: fmt.Errorf("%w: the token expired and there is no refresh token", ErrInvalidGrant)}
	default:
		cfg := &oauth2.Config{ClientID: p.Client.ID, ClientSecret: p.Client.Secret,
			Endpoint: oauth2.Endpoint{TokenURL: p.TokenEndpoint, AuthStyle: authStyle(p.Client.AuthMethod)}}
		dhc, derr := withDPoP(hc, p.DPoPKeyPEM)
		if derr != nil {
			return p, Unchanged, &Error{Op: "refresh", Server: redactURL(serverURL), Err: derr}
		}
		rc := *dhc
		rc.Transport = &resourceParam{base: transportOf(dhc), resource: p.Resource}
		tctx := context.WithValue(ctx, oauth2.HTTPClient, &rc)
		tok, err = cfg.TokenSource(tctx, &oauth2.Token{RefreshToken: p.Token.RefreshToken, Expiry: time.Unix(1, 0)}).Token()
		if err != nil {
			err = tokenErr(err)
		}
	}
	if err != nil {
		return p, Unchanged, &Error{Op: "refresh", Server: redactURL(serverURL), Err: err}
	}
	np := *p
	if err := np.setToken(tok); err != nil {
		return p, Unchanged, &Error{Op: "refresh", Server: redactURL(serverURL), Err: err}
	}
	np.Refreshed = time.Now().UTC()
	if err := s.Save(&np); err != nil {
		return p, Unchanged, &Error{Op: "store", Server: redactURL(serverURL), Err: err}
	}
	return &np, DidRefresh, nil
}

func good(p *Profile, stale string, skew time.Duration) bool {
	if p.Token.AccessToken == stale {
		return false
	}
	if p.Token.Expiry.IsZero() {
		return true
	}
	// A short-lived token is refreshed at a fifth of its life before expiry, not at skew.
	if life := p.Token.Expiry.Sub(p.Token.Issued); !p.Token.Issued.IsZero() && life > 0 && life/5 < skew {
		skew = life / 5
	}
	return time.Until(p.Token.Expiry) > skew
}

func transportOf(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}

// resourceParam adds the resource indicator to refresh token requests: x/oauth2's refresh
// takes no extra parameters, and MCP wants the resource on every token request.
type resourceParam struct {
	base     http.RoundTripper
	resource string
}

func (t *resourceParam) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil || t.resource == "" {
		return t.base.RoundTrip(req)
	}
	b, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, err
	}
	if v, err := url.ParseQuery(string(b)); err == nil && v.Get("grant_type") == "refresh_token" && v.Get("resource") == "" {
		v.Set("resource", t.resource)
		b = []byte(v.Encode())
	}
	r2 := req.Clone(req.Context())
	r2.Body = io.NopCloser(strings.NewReader(string(b)))
	r2.ContentLength = int64(len(b))
	return t.base.RoundTrip(r2)
}

// Revoke tells the authorization server to revoke the profile's tokens (RFC 7009), when it
// offers revocation; best effort.
func Revoke(ctx context.Context, hc *http.Client, p *Profile) error {
	if p.RevocationEndpoint == "" {
		return nil
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	hc = noRedirects(hc)
	var firstErr error
	for _, t := range []struct{ tok, hint string }{{p.Token.RefreshToken, "refresh_token"}, {p.Token.AccessToken, "access_token"}} {
		if t.tok == "" {
			continue
		}
		v := url.Values{"token": {t.tok}, "token_type_hint": {t.hint}}
		if p.Client.AuthMethod != "client_secret_basic" {
			v.Set("client_id", p.Client.ID)
			if p.Client.AuthMethod == "client_secret_post" {
				v.Set("client_secret", p.Client.Secret)
			}
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.RevocationEndpoint, strings.NewReader(v.Encode()))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if p.Client.AuthMethod == "client_secret_basic" {
			req.SetBasicAuth(url.QueryEscape(p.Client.ID), url.QueryEscape(p.Client.Secret))
		}
		resp, err := hc.Do(req)
		if err != nil {
			firstErr = errors.Join(firstErr, fmt.Errorf("revoke: %v", err))
			continue
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			firstErr = errors.Join(firstErr, fmt.Errorf("revoke %s: %s", t.hint, resp.Status))
		}
	}
	return firstErr
}

// ChallengeRecord is the last refusal a server answered a profile's bridge with: what the
// login hint is made of. No token is in it.
type ChallengeRecord struct {
	Status int `json:"status"`
	// Bearer: the refusal carried a Bearer challenge that speaks OAuth (resource_metadata,
	// scope or an error code), not a bare realm of a server that wants some other header.
	Bearer  bool      `json:"bearer,omitempty"`
	Scope   string    `json:"scope,omitempty"`
	Error   string    `json:"error,omitempty"`
	Profile string    `json:"profile,omitempty"`
	Time    time.Time `json:"time"`
}

func (s Store) challengePath(serverURL string) string {
	return filepath.Join(s.Dir, ServerKey(serverURL)+".challenge.json")
}

// RecordChallenge keeps the server's last refusal for the login hint.
func (s Store) RecordChallenge(serverURL string, c ChallengeRecord) error {
	if err := s.ensure(); err != nil {
		return err
	}
	b, _ := json.Marshal(c)
	return writeAtomic(s.challengePath(serverURL), b)
}

// LastChallenge is the server's last recorded refusal (ok false: none).
func (s Store) LastChallenge(serverURL string) (ChallengeRecord, bool) {
	var c ChallengeRecord
	b, err := os.ReadFile(s.challengePath(serverURL))
	return c, err == nil && json.Unmarshal(b, &c) == nil
}

// LastRefusal is when a bridge last saw the server refuse the profile's token (zero: never
// recorded). It is written at the refusal itself, before the session's unauthorized event.
func (s Store) LastRefusal(serverURL string) time.Time {
	var c ChallengeRecord
	if b, err := os.ReadFile(s.challengePath(serverURL)); err == nil && json.Unmarshal(b, &c) == nil {
		return c.Time
	}
	return time.Time{}
}

// forgetChallenge removes a server's refusal record (logout).
func (s Store) forgetChallenge(serverURL string) {
	if err := os.Remove(s.challengePath(serverURL)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return
	}
}

// LoginHint is the command that fixes a server's refusal, and whether logging in again can
// fix it at all ("" when the server asked for no OAuth and there is no profile): not when the server refuses for insufficient scope a token that was
// already granted every scope it asks for (step-up has reached its limit).
func (s Store) LoginHint(serverURL, profile string) (hint string, ok bool) {
	if profile == "" {
		profile = DefaultProfile
	}
	var c ChallengeRecord
	if b, err := os.ReadFile(s.challengePath(serverURL)); err == nil {
		_ = json.Unmarshal(b, &c)
	}
	scopes := strings.Fields(c.Scope)
	p, perr := s.Load(serverURL, profile)
	if errors.Is(perr, ErrProfileFile) {
		return fmt.Sprintf("%v; fix it and restart the session, or log in again (which replaces it): mcpctl login %s", perr, profileArgs(serverURL, profile)), true
	}
	if p == nil && !c.Bearer {
		return "", false // no OAuth in sight: not a login's business
	}
	if c.Error == "insufficient_scope" && p != nil {
		have := append(slices.Clone(p.EffectiveScopes()), p.Scopes...)
		missing := false
		for _, sc := range scopes {
			if !slices.Contains(have, sc) {
				missing = true
			}
		}
		if !missing {
			return fmt.Sprintf("the server refuses scope %q although profile %s was granted it: logging in again will not help; ask the server's operator", c.Scope, profile), false
		}
		// Step up: what was granted plus what is asked (SEP-2350's union).
		for _, sc := range p.Scopes {
			if sc != "offline_access" && !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	h := "mcpctl login " + profileArgs(serverURL, profile)
	if len(scopes) > 0 {
		h += " --scope " + shellQuote(strings.Join(scopes, " "))
	}
	return h, true
}

func profileArgs(serverURL, profile string) string {
	a := shellQuote(serverURL)
	if profile != DefaultProfile {
		a += " --profile " + profile
	}
	return a
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:@%+=,", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
