package oauth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/oauth/oauthtest"
	"github.com/mcpctl/mcpctl/events/testwait"
)

func login(t *testing.T, as *oauthtest.AS, st Store, mod func(*LoginOptions)) (*Profile, error) {
	t.Helper()
	o := LoginOptions{Server: as.URL + "/mcp", Open: oauthtest.Browser(t), CallbackTimeout: 10 * time.Second}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return Login(ctx, st, o)
}

func TestLogin_DynamicRegistrationPKCEResourceAndTokenUse(t *testing.T) {
	as := oauthtest.New(t)
	as.Scope = "mcp"
	as.AdvertiseIss = true
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	p, err := login(t, as, st, nil)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	if got := as.LastAuth().Get("code_challenge_method"); got != "S256" {
		t.Errorf("code_challenge_method = %q, want S256", got)
	}
	if got, want := as.LastAuth().Get("resource"), as.URL+"/mcp"; got != want {
		t.Errorf("resource in authorization request = %q, want %q", got, want)
	}
	if got, want := as.LastToken().Get("resource"), as.URL+"/mcp"; got != want {
		t.Errorf("resource in token request = %q, want %q", got, want)
	}
	if got, want := as.LastAuth().Get("scope"), "mcp offline_access"; got != want {
		t.Errorf("scope = %q, want %q (challenge's scope, plus offline_access the AS offers)", got, want)
	}
	if p.Client.Registration != RegDynamic || as.Registered.Load() != 1 {
		t.Errorf("registration = %q (%d registrations), want dynamic once", p.Client.Registration, as.Registered.Load())
	}
	fi, err := os.Stat(st.path(as.URL+"/mcp", DefaultProfile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("profile file: %v, mode %v; want 0600", err, fi.Mode())
	}

	// The transport sends the stored token; the server accepts it.
	hc := &http.Client{Transport: &Transport{Store: st, Server: as.URL + "/mcp"}}
	resp, err := hc.Post(as.URL+"/mcp", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("authorized request: %v %v", err, resp.Status)
	}
	resp.Body.Close()
}

func TestLogin_PreRegisteredAndMetadataDocument(t *testing.T) {
	t.Run("pre-registered client is used, no registration", func(t *testing.T) {
		as := oauthtest.New(t)
		st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
		p, err := login(t, as, st, func(o *LoginOptions) { o.ClientID = "pre" })
		if err != nil {
			t.Fatal(err)
		}
		if p.Client.ID != "pre" || p.Client.Registration != RegPreRegistered || as.Registered.Load() != 0 {
			t.Errorf("client %q (%s), %d registrations; want pre, pre-registered, 0", p.Client.ID, p.Client.Registration, as.Registered.Load())
		}
	})
}

// TestLogin_BadInput: each refusal is specific, and stores nothing: an existing profile of
// the server stays exactly as it was.
func TestLogin_BadInput(t *testing.T) {
	cases := []struct {
		name string
		set  func(as *oauthtest.AS)
		opts func(o *LoginOptions)
		want error
	}{
		{"wrong state", func(as *oauthtest.AS) { as.WrongState = true }, nil, ErrState},
		{"wrong iss", func(as *oauthtest.AS) { as.Iss = "https://evil.example.com" }, nil, ErrIss},
		{"iss with a trailing slash", func(as *oauthtest.AS) { as.Iss = as.URL + "/" }, nil, ErrIss},
		{"advertised iss missing", func(as *oauthtest.AS) { as.Iss = "-"; as.AdvertiseIss = true }, nil, ErrIss},
		{"metadata issuer mismatch", func(as *oauthtest.AS) { as.MetadataIssuer = "https://attacker.example.com" }, nil, ErrIssuerMismatch},
		{"resource mismatch", func(as *oauthtest.AS) { as.Resource = "https://evil.example.com/mcp" }, nil, ErrResourceMismatch},
		{"resource_metadata on another origin", func(as *oauthtest.AS) {
			as.RMOtherOrigin = "http://127.0.0.2:1/.well-known/oauth-protected-resource"
		}, nil, ErrMetadata},
		{"resource_metadata over plain http", func(as *oauthtest.AS) {
			as.RMOtherOrigin = "http://example.com/.well-known/oauth-protected-resource"
		}, nil, ErrInsecureURL},
		{"no PKCE", func(as *oauthtest.AS) { as.NoPKCE = true }, nil, ErrNoPKCE},
		{"metadata is an error page", func(as *oauthtest.AS) { as.MetadataBody = "<html>oops</html>" }, nil, ErrMetadata},
		{"registration without client_id", func(as *oauthtest.AS) { as.RegisterBody = `{"client_name":"x"}` }, nil, ErrRegistration},
		{"token response without access_token", func(as *oauthtest.AS) { as.TokenBody = `{"token_type":"Bearer"}` }, nil, ErrTokenResponse},
		{"token response not JSON", func(as *oauthtest.AS) { as.TokenBody = `<html>hello</html>` }, nil, ErrTokenResponse},
		{"token endpoint error page", func(as *oauthtest.AS) { as.TokenBody = `<html>500</html>`; as.TokenStatus = 500 }, nil, ErrTokenResponse},
		{"callback never comes", func(as *oauthtest.AS) { as.NoRedirect = true },
			func(o *LoginOptions) { o.CallbackTimeout = 300 * time.Millisecond }, ErrCallbackTimeout},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			as := oauthtest.New(t)
			st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
			if _, err := login(t, as, st, func(o *LoginOptions) { o.Profile = "keep" }); err != nil {
				t.Fatalf("first login: %v", err)
			}
			keep, _ := os.ReadFile(st.path(as.URL+"/mcp", "keep"))
			c.set(as)
			var redirect string
			_, err := login(t, as, st, func(o *LoginOptions) {
				o.Open = func(u string) error {
					redirect = u
					return oauthtest.Browser(t)(u)
				}
				if c.opts != nil {
					c.opts(o)
				}
			})
			if !errors.Is(err, c.want) {
				t.Fatalf("login: %v; want %v", err, c.want)
			}
			if _, err := st.Load(as.URL+"/mcp", DefaultProfile); !errors.Is(err, ErrNoProfile) {
				t.Errorf("after a refused login a default profile exists (%v)", err)
			}
			if now, _ := os.ReadFile(st.path(as.URL+"/mcp", "keep")); string(now) != string(keep) {
				t.Errorf("the existing profile changed")
			}
			if c.want == ErrCallbackTimeout {
				// The listener is closed: its redirect URI no longer answers.
				u := redirect[strings.Index(redirect, "redirect_uri=")+len("redirect_uri="):]
				u = u[:strings.Index(u, "&")]
				host := strings.TrimPrefix(strings.ReplaceAll(strings.ReplaceAll(u, "%3A", ":"), "%2F", "/"), "http://")
				host = host[:strings.Index(host, "/")]
				if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
					c.Close()
					t.Errorf("the redirect listener %s still accepts connections after the timeout", host)
				}
			}
		})
	}
}

func TestStore_RefusesBadProfileFiles(t *testing.T) {
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	srv := "https://mcp.example.com/mcp"
	path := st.path(srv, DefaultProfile)
	for _, c := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"group-readable", `{}`, 0o640, "want 0600"},
		{"garbage", "not json at all", 0o600, "is not a profile"},
		{"incomplete", `{"v":1,"profile":"default"}`, 0o600, "is not a complete profile"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_ = os.MkdirAll(st.Dir, 0o700)
			if err := os.WriteFile(path, []byte(c.content), c.mode); err != nil {
				t.Fatal(err)
			}
			_ = os.Chmod(path, c.mode)
			_, err := st.Load(srv, DefaultProfile)
			if !errors.Is(err, ErrProfileFile) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Load: %v; want ErrProfileFile saying %q", err, c.want)
			}
		})
	}
}

// TestFresh_RotationRace: many holders of one profile whose token expired, all at once:
// one refresh, no reuse of a rotated refresh token, everyone gets the new token.
func TestFresh_RotationRace(t *testing.T) {
	as := oauthtest.New(t)
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	srv := as.URL + "/mcp"
	if _, err := login(t, as, st, nil); err != nil {
		t.Fatal(err)
	}
	// Expire it in the file, as time would.
	p, _ := st.Load(srv, DefaultProfile)
	p.Token.Expiry = time.Now().Add(-time.Second)
	if err := st.Save(p); err != nil {
		t.Fatal(err)
	}
	const holders = 32
	var wg sync.WaitGroup
	toks := make([]string, holders)
	errs := make([]error, holders)
	for i := range holders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Each holder has its own store value (own lock file handle), as processes do.
			q, _, err := Store{Dir: st.Dir}.Fresh(context.Background(), nil, srv, DefaultProfile, "", DefaultSkew)
			errs[i] = err
			if q != nil {
				toks[i] = q.Token.AccessToken
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("holder %d: %v", i, err)
		}
		if toks[i] != toks[0] {
			t.Errorf("holder %d got another token than holder 0", i)
		}
	}
	if n, r := as.Refreshes.Load(), as.Reused.Load(); n != 1 || r != 0 {
		t.Errorf("refreshes %d, reused refresh tokens %d; want 1 and 0", n, r)
	}
	if toks[0] == p.Token.AccessToken {
		t.Errorf("the token was not refreshed")
	}
	if got := as.LastToken().Get("resource"); got != srv {
		t.Errorf("resource in the refresh request = %q, want %q", got, srv)
	}
}

// TestTransport_RefreshOn401: a token the server stops accepting is refreshed once and the
// request sent again; a revoked refresh token leaves the 401 and a login hint.
func TestTransport_RefreshOn401(t *testing.T) {
	as := oauthtest.New(t)
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	srv := as.URL + "/mcp"
	p, err := login(t, as, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	as.Forget(p.Token.AccessToken) // the server forgets it
	hc := &http.Client{Transport: &Transport{Store: st, Server: srv}}
	post := func() int {
		resp, err := hc.Post(srv, "application/json", strings.NewReader(`{"jsonrpc":"2.0"}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post(); got != 200 {
		t.Fatalf("after refresh on 401: status %d, want 200", got)
	}
	if as.Refreshes.Load() != 1 {
		t.Errorf("refreshes = %d, want 1", as.Refreshes.Load())
	}
	// Revoke everything: the next 401 stays, and the hint is the login command.
	q, _ := st.Load(srv, DefaultProfile)
	as.Forget(q.Token.AccessToken)
	as.RevokeRefresh(q.Token.RefreshToken)
	if got := post(); got != 401 {
		t.Fatalf("revoked: status %d, want 401", got)
	}
	if h, ok := st.LoginHint(srv, ""); !ok || h != "mcpctl login "+srv {
		t.Errorf("hint = %q, %v; want %q", h, ok, "mcpctl login "+srv)
	}
}

func TestLoginHint_StepUpAndItsLimit(t *testing.T) {
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	srv := "https://mcp.example.com/mcp"
	// A refusal that speaks no OAuth, with no profile: not a login's business.
	_ = st.RecordChallenge(srv, ChallengeRecord{Status: 401})
	if h, ok := st.LoginHint(srv, ""); h != "" || ok {
		t.Errorf("hint for a non-OAuth refusal = %q, %v; want none", h, ok)
	}
	_ = st.RecordChallenge(srv, ChallengeRecord{Status: 401, Bearer: true})
	if h, ok := st.LoginHint(srv, ""); h != "mcpctl login "+srv || !ok {
		t.Errorf("hint for an OAuth refusal = %q, %v", h, ok)
	}
	p := &Profile{Name: DefaultProfile, Server: srv, TokenEndpoint: "https://as/token", Scopes: []string{"mcp:basic"},
		Token: Token{AccessToken: "x"}}
	if err := st.Save(p); err != nil {
		t.Fatal(err)
	}
	_ = st.RecordChallenge(srv, ChallengeRecord{Status: 403, Error: "insufficient_scope", Scope: "mcp:write"})
	if h, ok := st.LoginHint(srv, ""); !ok || h != "mcpctl login "+srv+" --scope 'mcp:write mcp:basic'" {
		t.Errorf("step-up hint = %q, %v", h, ok)
	}
	p.Scopes = []string{"mcp:basic", "mcp:write"}
	_ = st.Save(p)
	if h, ok := st.LoginHint(srv, ""); ok {
		t.Errorf("hint after the scope was granted = %q, ok; want no login hint (retry limit)", h)
	}
}

func TestClientCredentials(t *testing.T) {
	t.Run("client_secret_basic", func(t *testing.T) {
		as := oauthtest.New(t)
		st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
		p, err := login(t, as, st, func(o *LoginOptions) {
			o.ClientCredentials, o.ClientID, o.ClientSecret = true, "machine", "s3cret"
			o.Open = func(string) error { t.Error("client credentials opened a browser"); return nil }
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.Grant != "client_credentials" || p.Client.AuthMethod != "client_secret_basic" {
			t.Errorf("grant %s method %s", p.Grant, p.Client.AuthMethod)
		}
		_, err = login(t, as, st, func(o *LoginOptions) {
			o.ClientCredentials, o.ClientID, o.ClientSecret, o.Profile = true, "machine", "wrong", "other"
		})
		if !errors.Is(err, ErrTokenResponse) || !strings.Contains(err.Error(), "invalid_client") {
			t.Errorf("wrong secret: %v; want invalid_client", err)
		}
	})
	t.Run("private_key_jwt", func(t *testing.T) {
		as := oauthtest.New(t)
		st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		der, _ := x509.MarshalPKCS8PrivateKey(k)
		pemKey := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
		p, err := login(t, as, st, func(o *LoginOptions) {
			o.ClientCredentials, o.ClientID, o.PrivateKeyPEM = true, "machine", pemKey
		})
		if err != nil {
			t.Fatal(err)
		}
		if p.Client.AuthMethod != "private_key_jwt" {
			t.Errorf("method %s", p.Client.AuthMethod)
		}
		// The assertion's signature verifies with the public key.
		a, err := clientAssertion(pemKey, "machine", as.URL)
		if err != nil {
			t.Fatal(err)
		}
		if !verifyES256(a, &k.PublicKey) {
			t.Errorf("assertion does not verify")
		}
	})
}

// TestLogin_NoBrowserPastedRedirect: with --no-browser the URL is printed, and the final
// redirect URL pasted on stdin completes the login (the listener never hears from the
// browser, as over SSH); a pasted URL with another state is refused.
func TestLogin_NoBrowserPastedRedirect(t *testing.T) {
	for _, c := range []struct {
		name   string
		forge  bool
		wantOK bool
	}{{"pasted redirect completes the login", false, true}, {"pasted redirect with a forged state", true, false}} {
		t.Run(c.name, func(t *testing.T) {
			as := oauthtest.New(t)
			st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
			pr, pw := io.Pipe()
			defer pw.Close()
			out := &lockedBuffer{}
			done := make(chan error, 1)
			go func() {
				_, err := login(t, as, st, func(o *LoginOptions) {
					o.NoBrowser, o.Paste, o.Out = true, pr, out
					o.Open = func(string) error { t.Error("--no-browser opened a browser"); return nil }
				})
				done <- err
			}()
			// The user opens the printed URL elsewhere; that browser stops at the redirect,
			// whose URL the user copies.
			var authURL string
			testwait.For(t, 5*time.Second, func() error {
				for _, l := range strings.Split(out.String(), "\n") {
					if u := strings.TrimSpace(l); strings.HasPrefix(u, as.URL+"/authorize?") {
						authURL = u
						return nil
					}
				}
				return errors.New("no authorization URL printed yet")
			})
			hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := hc.Get(authURL)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			final := resp.Header.Get("Location")
			if c.forge {
				final = strings.Replace(final, "state=", "state=x", 1)
			}
			fmt.Fprintln(pw, "not a URL")
			fmt.Fprintln(pw, final)
			err = <-done
			if c.wantOK && err != nil {
				t.Fatalf("login: %v", err)
			}
			if !c.wantOK && !errors.Is(err, ErrState) {
				t.Fatalf("login with a forged pasted state: %v, want ErrState", err)
			}
			_, lerr := st.Load(as.URL+"/mcp", DefaultProfile)
			if c.wantOK == (lerr != nil) {
				t.Errorf("profile after the login: %v", lerr)
			}
		})
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestTransport_RefreshesBeforeExpiry: a token in the last fifth of its life is refreshed
// before the request is sent, so the server never sees it refused.
func TestTransport_RefreshesBeforeExpiry(t *testing.T) {
	as := oauthtest.New(t)
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	srv := as.URL + "/mcp"
	if _, err := login(t, as, st, nil); err != nil {
		t.Fatal(err)
	}
	p, _ := st.Load(srv, DefaultProfile)
	old := p.Token.AccessToken
	p.Token.Issued, p.Token.Expiry = time.Now().Add(-50*time.Second), time.Now().Add(5*time.Second) // 5 s of 55 left
	if err := st.Save(p); err != nil {
		t.Fatal(err)
	}
	var refreshed []string
	hc := &http.Client{Transport: &Transport{Store: st, Server: srv, OnRefresh: func(p *Profile) { refreshed = append(refreshed, p.Name) }}}
	resp, err := hc.Post(srv, "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("request: %v %v", err, resp)
	}
	resp.Body.Close()
	q, _ := st.Load(srv, DefaultProfile)
	if q.Token.AccessToken == old || as.Refreshes.Load() != 1 || len(refreshed) != 1 {
		t.Errorf("refreshes %d (OnRefresh %d), token changed %v; want one refresh before sending",
			as.Refreshes.Load(), len(refreshed), q.Token.AccessToken != old)
	}
	// A token with most of its life left is not refreshed.
	resp, err = hc.Post(srv, "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("second request: %v %v", err, resp)
	}
	resp.Body.Close()
	if as.Refreshes.Load() != 1 {
		t.Errorf("refreshes = %d after a request with a fresh token, want still 1", as.Refreshes.Load())
	}
}

// TestJWTBearer: a workload identity token from a file is exchanged with the JWT bearer
// grant; renewal reads the file again (a platform rotates it in place); a refused
// assertion is invalid_grant and stores nothing.
func TestJWTBearer(t *testing.T) {
	as := oauthtest.New(t)
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	srv := as.URL + "/mcp"
	file := filepath.Join(t.TempDir(), "token.jwt")
	as.Assertion = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3In0.one"
	if err := os.WriteFile(file, []byte(as.Assertion+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := login(t, as, st, func(o *LoginOptions) {
		o.ClientID, o.AssertionFile = "workload", file
		o.Open = func(string) error { t.Error("the JWT bearer grant opened a browser"); return nil }
	})
	if err != nil {
		t.Fatal(err)
	}
	if p.Grant != jwtBearerGrant || p.Token.RefreshToken != "" {
		t.Errorf("grant %s, refresh token %v", p.Grant, p.Token.RefreshToken != "")
	}
	// Rotated in place: the renewal uses the new one.
	as.Assertion = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ3In0.two"
	_ = os.WriteFile(file, []byte(as.Assertion), 0o600)
	q, how, err := st.Fresh(context.Background(), nil, srv, DefaultProfile, p.Token.AccessToken, DefaultSkew)
	if err != nil || how != DidRefresh || q.Token.AccessToken == p.Token.AccessToken {
		t.Errorf("renewal with the rotated assertion: %v, %v", err, how)
	}
	as.Assertion = "something else"
	_, err = login(t, as, st, func(o *LoginOptions) { o.ClientID, o.AssertionFile, o.Profile = "workload", file, "other" })
	if !errors.Is(err, ErrInvalidGrant) {
		t.Errorf("refused assertion: %v, want ErrInvalidGrant", err)
	}
	if _, err := st.Load(srv, "other"); !errors.Is(err, ErrNoProfile) {
		t.Errorf("a refused login stored a profile: %v", err)
	}
}

// TestEnterpriseManaged: the ID token from a file is exchanged at the IdP (RFC 8693) for an
// ID-JAG addressed to the authorization server, which the JWT bearer grant presents; a
// renewal exchanges again. A refused ID token stores nothing.
func TestEnterpriseManaged(t *testing.T) {
	as := oauthtest.New(t)
	st := Store{Dir: filepath.Join(t.TempDir(), "auth")}
	srv := as.URL + "/mcp"
	file := filepath.Join(t.TempDir(), "id.jwt")
	as.IDToken = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1In0.id"
	_ = os.WriteFile(file, []byte(as.IDToken), 0o600)
	enterprise := func(o *LoginOptions) {
		o.ClientID, o.IDTokenFile, o.IDPTokenEndpoint, o.IDPClientID = "corp-app", file, as.URL+"/idp/token", "idp-client"
		o.Open = func(string) error { t.Error("enterprise login opened a browser"); return nil }
	}
	p, err := login(t, as, st, enterprise)
	if err != nil {
		t.Fatal(err)
	}
	if p.Grant != jwtBearerGrant || p.IDPTokenEndpoint != as.URL+"/idp/token" {
		t.Errorf("profile grant %s, IdP %q", p.Grant, p.IDPTokenEndpoint)
	}
	q, how, err := st.Fresh(context.Background(), nil, srv, DefaultProfile, p.Token.AccessToken, DefaultSkew)
	if err != nil || how != DidRefresh || q.Token.AccessToken == p.Token.AccessToken {
		t.Errorf("renewal: %v, %v", err, how)
	}
	as.IDToken = "another"
	_, err = login(t, as, st, func(o *LoginOptions) { enterprise(o); o.Profile = "other" })
	if err == nil || !strings.Contains(err.Error(), "token exchange at the IdP") {
		t.Errorf("refused ID token: %v", err)
	}
	if _, err := st.Load(srv, "other"); !errors.Is(err, ErrNoProfile) {
		t.Errorf("a refused login stored a profile: %v", err)
	}
}
