package oauth

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// LoginOptions are what login is told.
type LoginOptions struct {
	Server  string
	Profile string // default DefaultProfile
	// Scopes requested; empty: chosen by discovery (challenge, scopes_supported, none).
	Scopes []string
	// ClientID (and ClientSecret) of a client registered beforehand.
	ClientID     string
	ClientSecret string
	// ClientMetadataURL is mcpctl's client ID metadata document (an https URL), used as
	// client_id where the authorization server accepts those.
	ClientMetadataURL string
	// ClientCredentials: the client credentials grant instead of a browser.
	ClientCredentials bool
	// PrivateKeyPEM (PKCS#8, EC P-256) signs private_key_jwt client assertions.
	PrivateKeyPEM string
	// AssertionFile holds a JWT (a workload identity token) for the JWT bearer grant (RFC
	// 7523 §2.1, workload identity federation): read at login and again at each renewal,
	// so a token the platform rotates in place keeps working.
	AssertionFile string
	// Enterprise-managed authorization (SEP-990): IDTokenFile holds the user's ID token from
	// the enterprise IdP; it is exchanged at IDPTokenEndpoint (RFC 8693, as IDPClientID)
	// for an identity assertion grant (ID-JAG) that the JWT bearer grant presents.
	IDTokenFile      string
	IDPTokenEndpoint string
	IDPClientID      string
	HTTPClient       *http.Client
	// Open shows the authorization URL to the user (default OpenBrowser). An error is not
	// fatal: the URL is printed to Out anyway.
	Open func(url string) error
	// NoBrowser: print the URL only, and accept the final redirect URL pasted on Paste.
	NoBrowser bool
	Paste     io.Reader
	Out       io.Writer // where the URL is printed (never a token)
	// CallbackTimeout bounds the wait for the redirect (default DefaultCallbackTimeout).
	CallbackTimeout time.Duration
	Now             func() time.Time
}

const clientName = "mcpctl"

// Login runs discovery, client identification and a grant, and stores the profile. It
// stores nothing when any step fails, and leaves an existing profile as it was.
func Login(ctx context.Context, st Store, o LoginOptions) (*Profile, error) {
	if o.Profile == "" {
		o.Profile = DefaultProfile
	}
	if err := checkProfileName(o.Profile); err != nil {
		return nil, err
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.CallbackTimeout == 0 {
		o.CallbackTimeout = DefaultCallbackTimeout
	}
	hc := noRedirects(o.HTTPClient)
	ch, _, err := Probe(ctx, hc, o.Server)
	if err != nil {
		return nil, &Error{Op: "discover", Server: redactURL(o.Server), Err: err}
	}
	d, err := Discover(ctx, hc, o.Server, ch)
	if err != nil {
		return nil, err
	}
	scopes := d.Scopes()
	if len(o.Scopes) > 0 {
		scopes = d.withOfflineAccess(slices.Clone(o.Scopes))
	}
	cc := o.ClientCredentials || (o.ClientID != "" && len(d.AS.GrantTypesSupported) > 0 &&
		!slices.Contains(d.AS.GrantTypesSupported, "authorization_code") && slices.Contains(d.AS.GrantTypesSupported, "client_credentials"))
	var p *Profile
	if o.AssertionFile != "" || o.IDTokenFile != "" {
		p, err = jwtBearerLogin(ctx, hc, d, o, scopes)
	} else if cc {
		p, err = clientCredentialsLogin(ctx, hc, d, o, scopes)
	} else {
		p, err = codeLogin(ctx, hc, d, o, scopes)
	}
	if err != nil {
		return nil, err
	}
	p.Name, p.Server, p.Resource, p.Issuer = o.Profile, o.Server, d.ResourceID, d.Issuer
	p.TokenEndpoint, p.RevocationEndpoint = d.AS.TokenEndpoint, d.AS.RevocationEndpoint
	p.LoggedIn = o.Now().UTC()
	unlock, err := st.Lock(o.Server, o.Profile)
	if err != nil {
		return nil, &Error{Op: "store", Server: redactURL(o.Server), Err: err}
	}
	defer unlock()
	if err := st.Save(p); err != nil {
		return nil, &Error{Op: "store", Server: redactURL(o.Server), Err: err}
	}
	return p, nil
}

// noRedirects: metadata, registration and token requests are not followed to another
// place (a redirect would carry a client secret or a code along).
func noRedirects(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func codeLogin(ctx context.Context, hc *http.Client, d *Discovery, o LoginOptions, scopes []string) (*Profile, error) {
	srv := redactURL(o.Server)
	if !slices.Contains(d.AS.CodeChallengeMethodsSupported, "S256") {
		return nil, &Error{Op: "authorize", Server: srv, Err: fmt.Errorf("%w (code_challenge_methods_supported: %v)", ErrNoPKCE, d.AS.CodeChallengeMethodsSupported)}
	}
	l, err := listen()
	if err != nil {
		return nil, &Error{Op: "authorize", Server: srv, Err: err}
	}
	defer l.close()
	redirect := l.redirectURI()
	client, err := identify(ctx, hc, d, o, redirect)
	if err != nil {
		return nil, err
	}
	cfg := &oauth2.Config{ClientID: client.ID, ClientSecret: client.Secret, RedirectURL: redirect, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: d.AS.AuthorizationEndpoint, TokenURL: d.AS.TokenEndpoint, AuthStyle: authStyle(client.AuthMethod)}}
	state := randomString()
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", d.ResourceID))

	got := make(chan url.Values, 1)
	wctx, cancel := context.WithTimeout(ctx, o.CallbackTimeout)
	defer cancel()
	go func() {
		select {
		case v := <-l.got:
			got <- v
		case <-wctx.Done():
		}
	}()
	fmt.Fprintf(o.Out, "Open this URL to authorize mcpctl:\n  %s\n", authURL)
	if o.NoBrowser {
		if o.Paste != nil {
			fmt.Fprintln(o.Out, "Then paste the URL the browser was redirected to (or let it reach this machine):")
			go readPasted(wctx, o.Paste, got)
		}
	} else {
		open := o.Open
		if open == nil {
			open = OpenBrowser
		}
		if err := open(authURL); err != nil {
			fmt.Fprintf(o.Out, "(could not open a browser: %v)\n", err)
		}
	}
	var q url.Values
	select {
	case q = <-got:
	case <-wctx.Done():
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Op: "authorize", Server: srv, Err: fmt.Errorf("%w within %s (the redirect listener is closed)", ErrCallbackTimeout, o.CallbackTimeout)}
	}
	if q.Get("state") != state {
		return nil, &Error{Op: "authorize", Server: srv, Err: ErrState}
	}
	if e := q.Get("error"); e != "" {
		return nil, &Error{Op: "authorize", Server: srv, Err: fmt.Errorf("%w: %s %s", ErrDenied, e, q.Get("error_description"))}
	}
	// RFC 9207: a present iss must be the issuer, compared as strings; an advertised one
	// must be present.
	if iss, ok := q["iss"]; ok {
		if d.Issuer == "" || len(iss) != 1 || iss[0] != d.Issuer {
			return nil, &Error{Op: "authorize", Server: srv, Err: fmt.Errorf("%w: got %q, want %q", ErrIss, strings.Join(iss, ","), d.Issuer)}
		}
	} else if d.AS.IssParameterSupported {
		return nil, &Error{Op: "authorize", Server: srv, Err: fmt.Errorf("%w: the server advertises iss but the response has none", ErrIss)}
	}
	code := q.Get("code")
	if code == "" {
		return nil, &Error{Op: "authorize", Server: srv, Err: fmt.Errorf("%w: the redirect carries no code", ErrDenied)}
	}
	p := &Profile{Grant: "authorization_code", Scopes: scopes, Client: client}
	if slices.Contains(d.AS.DPoPSigningAlgValuesSupported, "ES256") {
		if p.DPoPKeyPEM, err = newDPoPKey(); err != nil {
			return nil, &Error{Op: "token", Server: srv, Err: err}
		}
	}
	thc, err := withDPoP(hc, p.DPoPKeyPEM)
	if err != nil {
		return nil, &Error{Op: "token", Server: srv, Err: err}
	}
	tctx := context.WithValue(ctx, oauth2.HTTPClient, thc)
	tok, err := cfg.Exchange(tctx, code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", d.ResourceID))
	if err != nil {
		return nil, &Error{Op: "token", Server: srv, Err: tokenErr(err)}
	}
	if err := p.setToken(tok); err != nil {
		return nil, &Error{Op: "token", Server: srv, Err: err}
	}
	return p, nil
}

// identify picks the client in the spec's order: pre-registered, client ID metadata
// document, dynamic registration.
func identify(ctx context.Context, hc *http.Client, d *Discovery, o LoginOptions, redirect string) (Client, error) {
	switch {
	case o.ClientID != "":
		return Client{ID: o.ClientID, Secret: o.ClientSecret, Registration: RegPreRegistered,
			AuthMethod: pickAuthMethod(d.AS.TokenEndpointAuthMethodsSupported, o.ClientSecret != "")}, nil
	case o.ClientMetadataURL != "" && d.AS.ClientIDMetadataDocumentSupported:
		return Client{ID: o.ClientMetadataURL, AuthMethod: "none", Registration: RegMetadataDocument}, nil
	case d.AS.RegistrationEndpoint != "":
		return register(ctx, hc, d, redirect)
	}
	return Client{}, &Error{Op: "register", Server: redactURL(o.Server),
		Err: fmt.Errorf("%w: the authorization server offers no dynamic registration and no client ID metadata documents; pass --client-id", ErrNoClient)}
}

// pickAuthMethod chooses how to authenticate at the token endpoint among what the server
// supports (RFC 8414's default is client_secret_basic).
func pickAuthMethod(supported []string, hasSecret bool) string {
	if !hasSecret {
		return "none"
	}
	if len(supported) == 0 || slices.Contains(supported, "client_secret_basic") {
		return "client_secret_basic"
	}
	if slices.Contains(supported, "client_secret_post") {
		return "client_secret_post"
	}
	return "client_secret_basic"
}

func authStyle(method string) oauth2.AuthStyle {
	if method == "client_secret_basic" {
		return oauth2.AuthStyleInHeader
	}
	return oauth2.AuthStyleInParams // client_secret_post, and none (client_id only)
}

// register performs dynamic client registration (RFC 7591) as a native application.
func register(ctx context.Context, hc *http.Client, d *Discovery, redirect string) (Client, error) {
	method := "none"
	if s := d.AS.TokenEndpointAuthMethodsSupported; len(s) > 0 && !slices.Contains(s, "none") {
		method = pickAuthMethod(s, true)
	}
	grants := []string{"authorization_code"}
	if len(d.AS.GrantTypesSupported) == 0 || slices.Contains(d.AS.GrantTypesSupported, "refresh_token") {
		grants = append(grants, "refresh_token")
	}
	body, _ := json.Marshal(map[string]any{
		"client_name": clientName, "redirect_uris": []string{redirect}, "grant_types": grants,
		"response_types": []string{"code"}, "token_endpoint_auth_method": method, "application_type": "native",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.AS.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return Client{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return Client{}, &Error{Op: "register", Server: redactURL(d.ServerURL), Err: fmt.Errorf("%w: %v", ErrRegistration, err)}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxMetadata))
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return Client{}, &Error{Op: "register", Server: redactURL(d.ServerURL), Err: fmt.Errorf("%w: %s: %s", ErrRegistration, resp.Status, snippet(b))}
	}
	var r struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		AuthMethod   string `json:"token_endpoint_auth_method"`
	}
	if err := json.Unmarshal(b, &r); err != nil || r.ClientID == "" {
		return Client{}, &Error{Op: "register", Server: redactURL(d.ServerURL), Err: fmt.Errorf("%w: the response has no client_id (body not shown: it may hold a secret)", ErrRegistration)}
	}
	c := Client{ID: r.ClientID, Secret: r.ClientSecret, Registration: RegDynamic, AuthMethod: r.AuthMethod}
	if c.AuthMethod == "" {
		c.AuthMethod = pickAuthMethod(d.AS.TokenEndpointAuthMethodsSupported, c.Secret != "")
	}
	switch c.AuthMethod {
	case "none", "client_secret_basic", "client_secret_post":
	default:
		return Client{}, &Error{Op: "register", Server: redactURL(d.ServerURL), Err: fmt.Errorf("%w: %s", ErrUnsupportedMethod, c.AuthMethod)}
	}
	return c, nil
}

func clientCredentialsLogin(ctx context.Context, hc *http.Client, d *Discovery, o LoginOptions, scopes []string) (*Profile, error) {
	if o.ClientID == "" {
		return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: fmt.Errorf("%w: client credentials need --client-id", ErrNoClient)}
	}
	c := Client{ID: o.ClientID, Secret: o.ClientSecret, Registration: RegClientCredentials}
	switch {
	case o.PrivateKeyPEM != "":
		c.AuthMethod, c.PrivateKeyPEM, c.SigningAlg = "private_key_jwt", o.PrivateKeyPEM, "ES256"
	case o.ClientSecret != "":
		c.AuthMethod = pickAuthMethod(d.AS.TokenEndpointAuthMethodsSupported, true)
	default:
		return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: fmt.Errorf("%w: client credentials need --client-secret or a private key", ErrNoClient)}
	}
	p := &Profile{Grant: "client_credentials", Scopes: scopes, Client: c}
	// Scopes without offline_access: this grant has no refresh token.
	p.Scopes = slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "offline_access" })
	tok, err := clientCredentialsToken(ctx, hc, c, d.AS.TokenEndpoint, d.Issuer, d.ResourceID, p.Scopes)
	if err != nil {
		return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: err}
	}
	if err := p.setToken(tok); err != nil {
		return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: err}
	}
	return p, nil
}

func clientCredentialsToken(ctx context.Context, hc *http.Client, c Client, tokenURL, issuer, resource string, scopes []string) (*oauth2.Token, error) {
	cfg := clientcredentials.Config{ClientID: c.ID, TokenURL: tokenURL, Scopes: scopes,
		EndpointParams: url.Values{"resource": {resource}}, AuthStyle: authStyle(c.AuthMethod)}
	if c.AuthMethod == "private_key_jwt" {
		aud := issuer
		if aud == "" {
			aud = tokenURL
		}
		a, err := clientAssertion(c.PrivateKeyPEM, c.ID, aud)
		if err != nil {
			return nil, err
		}
		cfg.EndpointParams.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		cfg.EndpointParams.Set("client_assertion", a)
	} else {
		cfg.ClientSecret = c.Secret
	}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return nil, tokenErr(err)
	}
	return tok, nil
}

// readJWT reads a JWT from a file.
func readJWT(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %v", ErrNoClient, what, err)
	}
	t := strings.TrimSpace(string(b))
	if strings.Count(t, ".") != 2 {
		return "", fmt.Errorf("%w: the %s in %s is not a JWT", ErrNoClient, what, path)
	}
	return t, nil
}

// Token exchange (RFC 8693) names for the enterprise IdP step.
const (
	tokenExchangeGrant = "urn:ietf:params:oauth:grant-type:token-exchange"
	idTokenType        = "urn:ietf:params:oauth:token-type:id_token"
	idJAGTokenType     = "urn:ietf:params:oauth:token-type:id-jag"
)

// exchangeIDToken trades the user's ID token at the enterprise IdP for an identity
// assertion grant (ID-JAG) addressed to the authorization server (audience: its issuer)
// for the resource. x/oauth2's client credentials request carries the exchange too.
func exchangeIDToken(ctx context.Context, hc *http.Client, p *Profile, issuer, resource string) (string, error) {
	idToken, err := readJWT(p.IDTokenFile, "ID token")
	if err != nil {
		return "", err
	}
	cfg := clientcredentials.Config{ClientID: p.IDPClientID, TokenURL: p.IDPTokenEndpoint, AuthStyle: oauth2.AuthStyleInParams,
		EndpointParams: url.Values{"grant_type": {tokenExchangeGrant}, "subject_token": {idToken},
			"subject_token_type": {idTokenType}, "requested_token_type": {idJAGTokenType},
			"audience": {issuer}, "resource": {resource}}}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return "", fmt.Errorf("token exchange at the IdP: %w", tokenErr(err))
	}
	if it, _ := tok.Extra("issued_token_type").(string); it != idJAGTokenType {
		return "", fmt.Errorf("%w: the IdP issued %q, not an ID-JAG", ErrTokenResponse, it)
	}
	return tok.AccessToken, nil
}

// setToken takes a token response: it must carry an access token of type Bearer.
func (p *Profile) setToken(tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" {
		return fmt.Errorf("%w: no access_token", ErrTokenResponse)
	}
	tokenType := "Bearer"
	switch tt := tok.Type(); {
	case strings.EqualFold(tt, "Bearer"):
	case strings.EqualFold(tt, "DPoP") && p.DPoPKeyPEM != "":
		tokenType = "DPoP"
	default:
		return fmt.Errorf("%w: token_type %q is not Bearer", ErrTokenResponse, tok.TokenType)
	}
	refresh := tok.RefreshToken
	if refresh == "" && p.Token.RefreshToken != "" {
		refresh = p.Token.RefreshToken // the server kept the refresh token (no rotation)
	}
	p.Token = Token{AccessToken: tok.AccessToken, TokenType: tokenType, RefreshToken: refresh, Expiry: tok.Expiry.UTC(),
		Issued: time.Now().UTC()}
	if s, ok := tok.Extra("scope").(string); ok && s != "" {
		p.GrantedScopes = strings.Fields(s)
	}
	return nil
}

// tokenErr says what was wrong with a token endpoint answer, without the body's secrets:
// an OAuth error code, or what kind of body it was.
func tokenErr(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		if re.ErrorCode == "invalid_grant" {
			return fmt.Errorf("%w: %s", ErrInvalidGrant, re.ErrorDescription)
		}
		if re.ErrorCode != "" {
			return fmt.Errorf("%w: %s %s (%s)", ErrTokenResponse, re.ErrorCode, re.ErrorDescription, re.Response.Status)
		}
		ct := ""
		if re.Response != nil {
			ct = re.Response.Header.Get("Content-Type")
		}
		return fmt.Errorf("%w: %s with a %s body that is no OAuth error", ErrTokenResponse, re.Response.Status, orUnknown(ct))
	}
	if strings.Contains(err.Error(), "missing access_token") {
		return fmt.Errorf("%w: no access_token", ErrTokenResponse)
	}
	return fmt.Errorf("%w: %v", ErrTokenResponse, err)
}

func orUnknown(s string) string {
	if s == "" {
		return "untyped"
	}
	return s
}

func randomString() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// jwtBearerGrant is the JWT bearer grant type (RFC 7523 §2.1).
const jwtBearerGrant = "urn:ietf:params:oauth:grant-type:jwt-bearer"

func jwtBearerLogin(ctx context.Context, hc *http.Client, d *Discovery, o LoginOptions, scopes []string) (*Profile, error) {
	if o.ClientID == "" {
		return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: fmt.Errorf("%w: the JWT bearer grant needs --client-id", ErrNoClient)}
	}
	c := Client{ID: o.ClientID, Secret: o.ClientSecret, Registration: RegPreRegistered,
		AuthMethod: pickAuthMethod(d.AS.TokenEndpointAuthMethodsSupported, o.ClientSecret != "")}
	p := &Profile{Grant: jwtBearerGrant, Client: c, AssertionFile: o.AssertionFile,
		Scopes:      slices.DeleteFunc(slices.Clone(scopes), func(s string) bool { return s == "offline_access" }),
		IDTokenFile: o.IDTokenFile, IDPTokenEndpoint: o.IDPTokenEndpoint, IDPClientID: o.IDPClientID}
	if p.IDTokenFile != "" {
		u, err := url.Parse(p.IDPTokenEndpoint)
		if err != nil || u.Host == "" {
			return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: fmt.Errorf("%w: the IdP token endpoint %q is not a URL", ErrNoClient, p.IDPTokenEndpoint)}
		}
		if err := checkSecure(u); err != nil {
			return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: err}
		}
	}
	tok, err := jwtBearerToken(ctx, hc, p, d.AS.TokenEndpoint, d.Issuer, d.ResourceID)
	if err != nil {
		return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: err}
	}
	if err := p.setToken(tok); err != nil {
		return nil, &Error{Op: "token", Server: redactURL(o.Server), Err: err}
	}
	return p, nil
}

// jwtBearerToken asks for a token with the assertion in p.AssertionFile. x/oauth2's client
// credentials request does it: its grant_type may be overridden.
func jwtBearerToken(ctx context.Context, hc *http.Client, p *Profile, tokenURL, issuer, resource string) (*oauth2.Token, error) {
	var assertion string
	if p.IDTokenFile != "" {
		jag, err := exchangeIDToken(ctx, hc, p, issuer, resource)
		if err != nil {
			return nil, err
		}
		assertion = jag
	} else {
		a, err := readJWT(p.AssertionFile, "assertion")
		if err != nil {
			return nil, err
		}
		assertion = a
	}
	cfg := clientcredentials.Config{ClientID: p.Client.ID, ClientSecret: p.Client.Secret, TokenURL: tokenURL, Scopes: p.Scopes,
		EndpointParams: url.Values{"grant_type": {jwtBearerGrant}, "assertion": {assertion}, "resource": {resource}},
		AuthStyle:      authStyle(p.Client.AuthMethod)}
	tok, err := cfg.Token(context.WithValue(ctx, oauth2.HTTPClient, hc))
	if err != nil {
		return nil, tokenErr(err)
	}
	return tok, nil
}
