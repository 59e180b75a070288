package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth"
	"github.com/mcpctl/mcpctl/events"
)

// Options are what `mcpctl login` is told. Secrets come from files or stdin, never argv.
type Options struct {
	F                 *cmdkit.Factory
	Server            string
	Profile           string
	Scopes            []string
	ClientID          string
	ClientSecret      string // "-" (stdin) or @FILE
	ClientMetadataURL string
	ClientCredentials bool
	PrivateKey        string // @FILE: PKCS#8 EC P-256 PEM, for private_key_jwt
	Assertion         string // @FILE: a JWT for the JWT bearer grant (workload identity)
	IDToken           string // @FILE: an ID token of the enterprise IdP (enterprise-managed authorization)
	IDPTokenEndpoint  string
	IDPClientID       string
	NoBrowser         bool
	CallbackTimeout   time.Duration
}

// NewCmdLogin builds the command; runF replaces RunLogin in tests of the parsing.
func NewCmdLogin(f *cmdkit.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "login <server-url>",
		Short: "Authorize mcpctl at an MCP server (OAuth) and keep the tokens in a profile",
		Long: `Authorize mcpctl at an MCP server that requires OAuth, and store the tokens in a profile
(a 0600 file under $MCPCTL_HOME/auth) that every session to the server uses, refreshed
when they expire.

The browser step opens the authorization URL with $BROWSER if set, else the platform's
opener, and takes the answer on a loopback listener (127.0.0.1, a random port). With
--no-browser the URL is printed, and the URL the browser was finally sent to may be pasted
on stdin (for SSH sessions). --client-credentials uses the client credentials grant instead
(CI, agents): --client-id with --client-secret or --private-key.

Secrets are never taken from the command line, where other users can read them:
--client-secret takes - (read stdin) or @FILE, --private-key takes @FILE.`,
		Example: `  mcpctl login https://mcp.example.com/mcp
  mcpctl login https://mcp.example.com/mcp --profile work --scope 'read write'
  mcpctl login https://mcp.example.com/mcp --no-browser
  mcpctl login https://mcp.example.com/mcp --client-credentials --client-id ci --client-secret @ci.secret
  mcpctl login https://mcp.example.com/mcp --client-id workload --assertion @/var/run/secrets/token`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Server = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunLogin(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&o.Profile, "profile", oauth.DefaultProfile, "the profile to store the tokens in")
	fl.StringArrayVar(&o.Scopes, "scope", nil, "scopes to ask for (space-separated; repeatable); default: what the server asks for")
	fl.StringVar(&o.ClientID, "client-id", "", "a client ID registered beforehand at the authorization server")
	fl.StringVar(&o.ClientSecret, "client-secret", "", "that client's secret: - reads it from stdin, @FILE from a file")
	fl.StringVar(&o.ClientMetadataURL, "client-metadata-url", os.Getenv("MCPCTL_CLIENT_METADATA_URL"),
		"an https URL of mcpctl's client ID metadata document, used as client ID where the server accepts one")
	fl.BoolVar(&o.ClientCredentials, "client-credentials", false, "use the client credentials grant (no browser)")
	fl.StringVar(&o.PrivateKey, "private-key", "", "@FILE: EC P-256 private key (PEM) for private_key_jwt client authentication")
	fl.StringVar(&o.Assertion, "assertion", "", "@FILE: a JWT (workload identity token) for the JWT bearer grant; read again at each renewal")
	fl.StringVar(&o.IDToken, "id-token", "", "@FILE: your ID token from the enterprise IdP, exchanged there (--idp-token-endpoint) for an identity assertion the server's authorization server accepts (enterprise-managed authorization)")
	fl.StringVar(&o.IDPTokenEndpoint, "idp-token-endpoint", "", "the enterprise IdP's token endpoint (with --id-token)")
	fl.StringVar(&o.IDPClientID, "idp-client-id", "", "mcpctl's client ID at the enterprise IdP (with --id-token)")
	fl.BoolVar(&o.NoBrowser, "no-browser", false, "print the authorization URL and accept the final redirect URL on stdin")
	fl.DurationVar(&o.CallbackTimeout, "callback-timeout", oauth.DefaultCallbackTimeout, "how long to wait for the authorization response")
	return cmd
}

// loginResult is what login prints: never a token.
type loginResult struct {
	Server       string    `json:"server"`
	Profile      string    `json:"profile"`
	Issuer       string    `json:"issuer,omitempty"`
	Grant        string    `json:"grant"`
	Registration string    `json:"registration"`
	Scopes       []string  `json:"scopes"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Refreshable  bool      `json:"refreshable"`
}

func RunLogin(ctx context.Context, o *Options) error {
	f := o.F
	var err error
	if err := checkServer(o.Server); err != nil {
		return err
	}
	if !oauth.ProfileNameRE.MatchString(o.Profile) {
		return clierr.UsageErr("--profile %q: names match ^[A-Za-z0-9_-]{1,64}$", o.Profile)
	}
	if o.ClientSecret != "" && o.ClientID == "" {
		return clierr.UsageErr("--client-secret needs --client-id")
	}
	if o.ClientCredentials && o.ClientID == "" {
		return clierr.UsageErr("--client-credentials needs --client-id (and --client-secret or --private-key)")
	}
	if o.ClientMetadataURL != "" {
		if u, err := url.Parse(o.ClientMetadataURL); err != nil || u.Scheme != "https" || u.Host == "" || u.Path == "" || u.Path == "/" {
			return clierr.UsageErr("--client-metadata-url %q: an https URL with a path", o.ClientMetadataURL)
		}
	}
	var assertionFile string
	if o.Assertion != "" {
		if !strings.HasPrefix(o.Assertion, "@") || len(o.Assertion) < 2 {
			return clierr.UsageErr("--assertion takes @FILE (a JWT on the command line is readable by every user of this machine)")
		}
		if o.ClientID == "" {
			return clierr.UsageErr("--assertion needs --client-id")
		}
		if assertionFile, err = filepath.Abs(o.Assertion[1:]); err != nil {
			return clierr.UsageErr("--assertion: %v", err)
		}
		if _, err := os.Stat(assertionFile); err != nil {
			return clierr.UsageErr("--assertion: %v", err)
		}
	}
	var idTokenFile string
	if o.IDToken != "" {
		if !strings.HasPrefix(o.IDToken, "@") || len(o.IDToken) < 2 {
			return clierr.UsageErr("--id-token takes @FILE (a token on the command line is readable by every user of this machine)")
		}
		if o.ClientID == "" || o.IDPTokenEndpoint == "" {
			return clierr.UsageErr("--id-token needs --client-id and --idp-token-endpoint")
		}
		if idTokenFile, err = filepath.Abs(o.IDToken[1:]); err != nil {
			return clierr.UsageErr("--id-token: %v", err)
		}
	} else if o.IDPTokenEndpoint != "" || o.IDPClientID != "" {
		return clierr.UsageErr("--idp-token-endpoint and --idp-client-id go with --id-token")
	}
	secret, err := readSecret(f.IO.In, o.ClientSecret, "--client-secret", true)
	if err != nil {
		return err
	}
	key, err := readSecret(f.IO.In, o.PrivateKey, "--private-key", false)
	if err != nil {
		return err
	}
	home, err := f.Home()
	if err != nil {
		return err
	}
	var scopes []string
	for _, s := range o.Scopes {
		scopes = append(scopes, strings.Fields(s)...)
	}
	// The authorization URL and prompts go to stderr: stdout is the result (or --json).
	lo := oauth.LoginOptions{
		Server: o.Server, Profile: o.Profile, Scopes: scopes, ClientID: o.ClientID, ClientSecret: secret,
		ClientMetadataURL: o.ClientMetadataURL, ClientCredentials: o.ClientCredentials, PrivateKeyPEM: key, AssertionFile: assertionFile,
		IDTokenFile: idTokenFile, IDPTokenEndpoint: o.IDPTokenEndpoint, IDPClientID: o.IDPClientID,
		HTTPClient: &http.Client{Timeout: 30 * time.Second}, NoBrowser: o.NoBrowser, Out: f.IO.ErrOut,
		CallbackTimeout: o.CallbackTimeout,
	}
	if o.NoBrowser && o.ClientSecret != "-" {
		lo.Paste = f.IO.In
	}
	p, err := oauth.Login(ctx, oauth.Store{Dir: home.AuthDir()}, lo)
	if err != nil {
		return AuthError(err, o.Server, o.Profile)
	}
	RecordProfileEvent(ctx, f, events.KindLoggedIn, p)
	r := loginResult{Server: p.Server, Profile: p.Name, Issuer: p.Issuer, Grant: p.Grant, Registration: p.Client.Registration,
		Scopes: p.EffectiveScopes(), Expiry: p.Token.Expiry, Refreshable: p.Token.RefreshToken != "" || p.Grant != "authorization_code"}
	if f.JSON {
		return cmdkit.WriteJSON(f.IO.Out, r)
	}
	exp := "no expiry given"
	if !r.Expiry.IsZero() {
		exp = "expires " + r.Expiry.Local().Format(time.RFC3339)
	}
	fmt.Fprintf(f.IO.Out, "logged in to %s as profile %s (%s, %s)\n", r.Server, r.Profile, strings.Join(orNone(r.Scopes), " "), exp)
	return nil
}

func orNone(s []string) []string {
	if len(s) == 0 {
		return []string{"no scopes"}
	}
	return s
}

func checkServer(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return clierr.UsageErr("login %q: the server must be an http(s) URL", s)
	}
	return nil
}

// readSecret reads a secret flag's value: "-" from stdin (when allowed), "@FILE" from a
// file. A literal value is refused: argv is readable by every user of the machine.
func readSecret(in io.Reader, v, flag string, stdinOK bool) (string, error) {
	switch {
	case v == "":
		return "", nil
	case v == "-" && stdinOK:
		b, err := io.ReadAll(io.LimitReader(in, 1<<20))
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(b)), nil
	case strings.HasPrefix(v, "@"):
		b, err := os.ReadFile(v[1:])
		if err != nil {
			return "", clierr.UsageErr("%s: %v", flag, err)
		}
		return strings.TrimSpace(string(b)), nil
	}
	how := "@FILE"
	if stdinOK {
		how = "- (stdin) or @FILE"
	}
	return "", clierr.WithHint(fmt.Errorf("%s: a secret on the command line is readable by every user of this machine", flag),
		clierr.ExitUsage, "pass it as "+how)
}

// AuthError maps an authorization failure to exit code 4 with the command that retries
// it (login) or fixes the profile file.
func AuthError(err error, server, profile string) error {
	var ce *clierr.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	hint := "mcpctl login " + server
	if profile != "" && profile != oauth.DefaultProfile {
		hint += " --profile " + profile
	}
	if !oauth.IsAuthError(err) {
		// The server or the authorization server could not be reached: a network error.
		return &clierr.Error{Code: clierr.ExitNetwork, Err: err, Hint: "check that the server is reachable, then: " + hint}
	}
	switch {
	case errors.Is(err, oauth.ErrProfileFile):
		hint = "fix or remove the profile file (mcpctl logout " + server + "), then: " + hint
	case errors.Is(err, oauth.ErrNoClient):
		hint += " --client-id ID [--client-secret @FILE]"
	case errors.Is(err, oauth.ErrResourceMismatch), errors.Is(err, oauth.ErrIssuerMismatch), errors.Is(err, oauth.ErrIss),
		errors.Is(err, oauth.ErrNoPKCE), errors.Is(err, oauth.ErrInsecureURL):
		hint = "the server's authorization setup is refused for safety; nothing was stored (ask its operator)"
	}
	return &clierr.Error{Code: clierr.ExitAuth, Err: err, Hint: hint}
}

// RecordProfileEvent appends a logged_in or logged_out event for p (profile, origin,
// scopes, expiry; never a token) under events.ProfilesSession. The login or logout has
// taken effect whatever happens here: a hub that cannot be reached is a warning on stderr,
// not a failure of the command.
func RecordProfileEvent(ctx context.Context, f *cmdkit.Factory, k events.Kind, p *oauth.Profile) {
	hub, err := f.Hub(ctx)
	if err == nil {
		e := p.Event(k, hub.Node, events.ProfilesSession, 0)
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err = hub.Log.Append(actx, e, events.Unconditional())
		cancel()
	}
	if err != nil {
		fmt.Fprintf(f.IO.ErrOut, "mcpctl: warning: %s of profile %s not recorded in the event log: %v\n", k, p.Name, err)
	}
}
