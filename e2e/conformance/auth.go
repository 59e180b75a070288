package main

// Authorization, as a user of mcpctl does it: a command that exits 4 says which
// `mcpctl login` command fixes it ("Try: mcpctl login …", or "hint" in --json errors);
// the client runs that command, with the client credentials the scenario's context
// gives it (a user who was handed credentials passes them), and runs the refused command
// again. mcpctl decides when logging in again cannot help (its hint is then no login
// command) — the client never counts attempts of its own beyond a safety bound. The
// browser step is done by $BROWSER, which the test points at this program's -browser
// mode: it follows the authorization URL's redirects to mcpctl's loopback listener.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// maxLogins is a safety bound only: mcpctl's hints end a step-up loop by themselves.
const maxLogins = 6

// loginHint finds the login command in what a failed mcpctl command printed on stderr.
func loginHint(stderr string) []string {
	var hint string
	var doc struct {
		Hint string `json:"hint"`
	}
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimSpace(line)
		if json.Unmarshal([]byte(line), &doc) == nil && doc.Hint != "" {
			hint = doc.Hint
		} else if h, ok := strings.CutPrefix(line, "Try: "); ok {
			hint = h
		}
	}
	args := shellSplit(hint)
	if len(args) < 3 || args[0] != "mcpctl" || args[1] != "login" {
		return nil
	}
	return args[1:]
}

// shellSplit splits a command line with single-quoted words, as mcpctl quotes its hints.
func shellSplit(s string) []string {
	var out []string
	var cur strings.Builder
	in, inQuote := false, false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case inQuote && c == '\'':
			inQuote = false
		case inQuote:
			cur.WriteByte(c)
		case c == '\'':
			inQuote, in = true, true
		case c == ' ' || c == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			in = true
		default:
			cur.WriteByte(c)
			in = true
		}
	}
	if in {
		out = append(out, cur.String())
	}
	return out
}

// credentials are what the scenario's context hands the user to log in with.
type credentials struct {
	ClientID      string `json:"client_id"`
	ClientSecret  string `json:"client_secret"`
	PrivateKeyPEM string `json:"private_key_pem"`
	// ValidJWT is a workload identity token (the scenario also hands out broken ones, for
	// clients that test their own error paths; a user logs in with the good one).
	ValidJWT string `json:"valid_jwt"`
	// The enterprise IdP: the user's ID token, and where it is exchanged.
	IDPIDToken       string `json:"idp_id_token"`
	IDPTokenEndpoint string `json:"idp_token_endpoint"`
	IDPClientID      string `json:"idp_client_id"`
}

// loginArgs adds the context's credentials to a login command: the secret and the key in
// 0600 files (never on the command line).
func loginArgs(login []string) []string {
	var c credentials
	if s := os.Getenv("MCP_CONFORMANCE_CONTEXT"); s != "" {
		_ = json.Unmarshal([]byte(s), &c)
	}
	args := append([]string{}, login...)
	args = append(args, "--callback-timeout", "20s")
	if c.ClientID == "" {
		return args
	}
	args = append(args, "--client-id", c.ClientID)
	dir := os.Getenv("MCPCTL_HOME")
	if c.ClientSecret != "" {
		p := filepath.Join(dir, "conformance-client-secret")
		if err := os.WriteFile(p, []byte(c.ClientSecret), 0o600); err == nil {
			args = append(args, "--client-secret", "@"+p)
		}
	}
	if c.ValidJWT != "" {
		p := filepath.Join(dir, "conformance-workload.jwt")
		if err := os.WriteFile(p, []byte(c.ValidJWT), 0o600); err == nil {
			args = append(args, "--assertion", "@"+p)
		}
	}
	if c.IDPIDToken != "" {
		p := filepath.Join(dir, "conformance-id-token.jwt")
		if err := os.WriteFile(p, []byte(c.IDPIDToken), 0o600); err == nil {
			args = append(args, "--id-token", "@"+p, "--idp-token-endpoint", c.IDPTokenEndpoint)
			if c.IDPClientID != "" {
				args = append(args, "--idp-client-id", c.IDPClientID)
			}
		}
	}
	if c.PrivateKeyPEM != "" {
		p := filepath.Join(dir, "conformance-client-key.pem")
		if err := os.WriteFile(p, []byte(c.PrivateKeyPEM), 0o600); err == nil {
			args = append(args, "--client-credentials", "--private-key", "@"+p)
		}
	}
	return args
}

// withLogin runs an mcpctl command and, while it is refused with a login hint, logs in
// as hinted and runs it again.
func withLogin(ctx context.Context, run func() result) result {
	r := run()
	for i := 0; r.code == 4 && i < maxLogins; i++ {
		login := loginHint(r.stderr)
		if login == nil {
			logf("refused, and mcpctl's hint is no login command: giving up")
			return r
		}
		if l := mc(ctx, nil, loginArgs(login)...); l.code != 0 {
			logf("login failed")
			return r
		}
		r = run()
	}
	return r
}

// browse is the -browser mode: a non-interactive browser that follows the authorization
// URL's redirects (to mcpctl's loopback listener, which takes the response).
func browse(u string) int {
	resp, err := http.Get(u)
	if err != nil {
		fmt.Fprintf(os.Stderr, "conformance browser: %v\n", err)
		return 1
	}
	resp.Body.Close()
	fmt.Fprintf(os.Stderr, "conformance browser: %s → %s\n", resp.Request.URL.Redacted(), resp.Status)
	return 0
}
