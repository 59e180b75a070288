package oauth

import (
	"errors"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Transport authorizes a bridge's requests to an MCP server with a profile's access token.
// It reads the profile file for every request (so a login or another holder's refresh is
// picked up without a restart), refreshes before expiry and once on a 401, under the
// profile's lock. A refusal that stays is passed on as it came, and recorded for the
// login hint. With no profile it sends requests as they are.
type Transport struct {
	Base    http.RoundTripper
	Store   Store
	Server  string // the profile's server URL
	Profile string // default DefaultProfile
	// TokenClient makes the token requests (default: a client on Base).
	TokenClient *http.Client
	Skew        time.Duration // default DefaultSkew
	Logger      *slog.Logger
	// OnRefresh, when set, hears of every refresh this transport did (never a token).
	OnRefresh func(p *Profile)

	mu    sync.Mutex
	nonce string // the resource server's last DPoP nonce
}

func (t *Transport) base() http.RoundTripper {
	if t.Base != nil {
		return t.Base
	}
	return http.DefaultTransport
}

func (t *Transport) profile() string {
	if t.Profile == "" {
		return DefaultProfile
	}
	return t.Profile
}

func (t *Transport) tokenClient() *http.Client {
	if t.TokenClient != nil {
		return t.TokenClient
	}
	return &http.Client{Transport: t.base(), Timeout: 30 * time.Second}
}

func (t *Transport) skew() time.Duration {
	if t.Skew == 0 {
		return DefaultSkew
	}
	return t.Skew
}

func (t *Transport) fresh(req *http.Request, stale string) (*Profile, error) {
	p, how, err := t.Store.Fresh(req.Context(), t.tokenClient(), t.Server, t.profile(), stale, t.skew())
	if how == DidRefresh {
		if t.Logger != nil {
			t.Logger.Info("oauth token refreshed", "profile", p.Name, "expiry", p.Token.Expiry, "scopes", p.EffectiveScopes())
		}
		if t.OnRefresh != nil {
			t.OnRefresh(p)
		}
	}
	return p, err
}

func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, err := t.fresh(req, "")
	switch {
	case errors.Is(err, ErrNoProfile):
		p = nil
	case err != nil && p == nil:
		// An unreadable profile file: nothing of it is sent, so the server refuses the
		// request and the login hint names the file.
		if t.Logger != nil {
			t.Logger.Warn("oauth profile unusable", "profile", t.profile(), "err", err)
		}
	case err != nil && t.Logger != nil:
		t.Logger.Warn("oauth refresh failed", "profile", t.profile(), "err", err)
	}
	resp, err := t.send(req, p)
	// 401: refresh (unless another holder did already) and send again, if the body can be
	// sent again; a DPoP nonce challenge is answered with the same token and the nonce. A
	// refreshed token refused again is refreshed once more, up to maxRetries sends: a slow
	// request may outlive a short-lived token. A refusal that stays is passed on.
	canRetry := req.Body == nil || req.GetBody != nil
	for attempt := 0; err == nil && resp.StatusCode == http.StatusUnauthorized && canRetry && attempt < maxRetries; attempt++ {
		var used string
		if p != nil {
			used = p.Token.AccessToken
		}
		np, ferr := p, error(nil)
		if p == nil || !t.dpopNonceAsked(resp) {
			np, ferr = t.fresh(req, used)
		} else {
			used = "" // the same token again, with the nonce
		}
		if ferr != nil || np == nil || (p != nil && np.Token.AccessToken == used) {
			if ferr != nil && !errors.Is(ferr, ErrNoProfile) && t.Logger != nil {
				t.Logger.Warn("oauth refresh after 401 failed", "profile", t.profile(), "err", ferr)
			}
			break
		}
		r2 := req.Clone(req.Context())
		if req.GetBody != nil {
			if r2.Body, err = req.GetBody(); err != nil {
				err = nil
				break
			}
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		_ = resp.Body.Close()
		p = np
		resp, err = t.send(r2, np)
	}
	if err != nil {
		return nil, err
	}
	t.noteRefusal(resp)
	return resp, nil
}

// maxRetries bounds the sends of one request after a 401.
const maxRetries = 3

func (t *Transport) send(req *http.Request, p *Profile) (*http.Response, error) {
	if p == nil {
		return t.base().RoundTrip(req)
	}
	r := req.Clone(req.Context())
	if p.Token.TokenType != "DPoP" {
		r.Header.Set("Authorization", "Bearer "+p.Token.AccessToken)
		return t.base().RoundTrip(r)
	}
	// DPoP: the token's scheme, and a fresh proof of the key it is bound to.
	k, err := parseECKey(p.DPoPKeyPEM)
	if err != nil {
		return nil, &Error{Op: "dpop", Server: redactURL(t.Server), Err: err}
	}
	t.mu.Lock()
	nonce := t.nonce
	t.mu.Unlock()
	proof, err := dpopProof(k, req.Method, req.URL.String(), p.Token.AccessToken, nonce)
	if err != nil {
		return nil, err
	}
	r.Header.Set("Authorization", "DPoP "+p.Token.AccessToken)
	r.Header.Set("DPoP", proof)
	return t.base().RoundTrip(r)
}

// dpopNonceAsked reports whether a 401 asks for the request again with a nonce (RFC 9449
// §9), and keeps the nonce for the requests that follow.
func (t *Transport) dpopNonceAsked(resp *http.Response) bool {
	n := resp.Header.Get("DPoP-Nonce")
	c, _ := ParseChallenge(resp.Header.Values("WWW-Authenticate"))
	if n == "" || c.Error != "use_dpop_nonce" {
		return false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nonce = n
	return true
}

// noteRefusal records a 401 or 403 challenge for the login hint.
func (t *Transport) noteRefusal(resp *http.Response) {
	if resp == nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return
	}
	c, bearer := ParseChallenge(resp.Header.Values("WWW-Authenticate"))
	if resp.StatusCode == http.StatusForbidden && c.Error != "insufficient_scope" {
		return
	}
	_ = t.Store.RecordChallenge(t.Server, ChallengeRecord{Status: resp.StatusCode,
		Bearer: bearer && (c.ResourceMetadata != "" || c.Scope != "" || c.Error != ""), Scope: c.Scope, Error: c.Error,
		Profile: t.profile(), Time: time.Now().UTC()})
}
