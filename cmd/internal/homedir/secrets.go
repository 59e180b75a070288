package homedir

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

// secrets are a session's header and environment values. They live in a 0600 file under
// $MCPCTL_HOME/secrets, named by a random reference that the created event carries; the
// values never enter an event, the KV, argv or a log.
type Secrets struct {
	Headers map[string]string `json:"headers,omitempty"`
	Env     map[string]string `json:"env,omitempty"`
	// URL is the server URL with its query (the event's Server.URL shows the values
	// REDACTED); empty when the URL has no query.
	URL string `json:"url,omitempty"`
	// Inherited is the environment of the CLI that connected a stdio server, without
	// mcpctl's own variables: the server starts from it (Env wins over it). A restart reuses
	// it; the hub's and the bridge's environment never reach the server.
	Inherited map[string]string `json:"inherited_env,omitempty"`
	// ElicitContent is the content an elicitation is accepted with (connect --elicit JSON
	// or @file.json): a JSON object, which may hold values as secret as a header's.
	ElicitContent json.RawMessage `json:"elicit_content,omitempty"`
	// OAuthProfile is the OAuth profile an HTTP session authorizes with ("": the server's
	// default profile, if it has one; NoOAuthProfile: none). A name, not a secret; it is
	// kept here so that it needs no event field.
	OAuthProfile string `json:"oauth_profile,omitempty"`
}

// NoOAuthProfile is Secrets.OAuthProfile for connect --no-profile.
const NoOAuthProfile = "-"

// inheritedEnv is what of a connecting CLI's environment a stdio server gets: everything but
// mcpctl's own variables (MCPCTL_*: home, node, NATS credentials) and entries that are not
// NAME=value with a shell name.
func InheritedEnv(environ []string) map[string]string {
	out := map[string]string{}
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !EnvNameRE.MatchString(k) || strings.HasPrefix(k, "MCPCTL_") {
			continue
		}
		out[k] = v
	}
	return out
}

// writeSecrets stores s under a fresh reference and returns it ("" when there is nothing
// to store). The file is written whole (temp, fsync, rename) before any event names it.
func WriteSecrets(home Home, session string, s Secrets) (string, error) {
	if len(s.Headers) == 0 && len(s.Env) == 0 && s.URL == "" && len(s.Inherited) == 0 && len(s.ElicitContent) == 0 && s.OAuthProfile == "" {
		return "", nil
	}
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", err
	}
	ref := session + "-" + hex.EncodeToString(nonce[:]) + ".json"
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	dir := home.SecretsDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, ref)); err != nil {
		return "", err
	}
	return ref, nil
}

// ReadSecrets loads the values a reference names.
func ReadSecrets(home Home, ref string) (Secrets, error) {
	var s Secrets
	if ref == "" {
		return s, nil
	}
	if strings.ContainsAny(ref, "/\\") || strings.HasPrefix(ref, ".") {
		return s, fmt.Errorf("invalid secrets reference %q", ref)
	}
	path := filepath.Join(home.SecretsDir(), ref)
	fi, err := os.Stat(path)
	if err != nil {
		return s, fmt.Errorf("secrets of the session: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return s, clierr.WithHint(fmt.Errorf("secrets file %s has mode %04o", path, fi.Mode().Perm()), clierr.ExitUsage, "chmod 600 "+path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("secrets file %s: %w", path, err)
	}
	return s, nil
}

// removeSecrets deletes a reference's file (on close, or when a connect lost its race).
func RemoveSecrets(home Home, ref string) {
	if ref == "" || strings.ContainsAny(ref, "/\\") {
		return
	}
	_ = os.Remove(filepath.Join(home.SecretsDir(), ref))
}

// EnvNameRE is what an environment variable name may be.
var EnvNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
