package oauth

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"github.com/mcpctl/mcpctl/events"
)

// DefaultProfile is the profile login writes and sessions use when none is named.
const DefaultProfile = "default"

// ProfileNameRE is what a profile name may be: it becomes part of a file name.
var ProfileNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// How a client was identified to the authorization server (Profile.Client.Registration).
const (
	RegPreRegistered     = "pre-registered"
	RegMetadataDocument  = "client-id-metadata-document"
	RegDynamic           = "dynamic"
	RegClientCredentials = "client-credentials"
)

// Client is how mcpctl identifies itself to one authorization server. It is bound to the
// issuer: a profile whose server moved to another authorization server registers again.
type Client struct {
	ID           string `json:"client_id"`
	Secret       string `json:"client_secret,omitempty"`
	AuthMethod   string `json:"token_endpoint_auth_method"` // none | client_secret_basic | client_secret_post | private_key_jwt
	Registration string `json:"registration"`
	// PrivateKeyPEM signs private_key_jwt assertions (client credentials).
	PrivateKeyPEM string `json:"private_key_pem,omitempty"`
	SigningAlg    string `json:"signing_alg,omitempty"`
}

// Token is a stored token set. Its values never leave this file and the requests they
// authorize.
type Token struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Issued       time.Time `json:"issued,omitzero"`
}

// Profile is one login to one server: the file under $MCPCTL_HOME/auth.
type Profile struct {
	V                  int      `json:"v"`
	Name               string   `json:"profile"`
	Server             string   `json:"server"`   // the MCP server URL, as given to login
	Resource           string   `json:"resource"` // the resource indicator sent
	Issuer             string   `json:"issuer,omitempty"`
	TokenEndpoint      string   `json:"token_endpoint"`
	RevocationEndpoint string   `json:"revocation_endpoint,omitempty"`
	Scopes             []string `json:"scopes,omitempty"` // requested
	GrantedScopes      []string `json:"granted_scopes,omitempty"`
	Grant              string   `json:"grant"` // authorization_code | client_credentials | the JWT bearer grant
	// AssertionFile is where the JWT bearer grant's assertion is read from, each time.
	AssertionFile string `json:"assertion_file,omitempty"`
	// Enterprise-managed authorization: the ID token's file, and the IdP that exchanges it.
	IDTokenFile      string `json:"id_token_file,omitempty"`
	IDPTokenEndpoint string `json:"idp_token_endpoint,omitempty"`
	IDPClientID      string `json:"idp_client_id,omitempty"`
	Client           Client `json:"client"`
	// DPoPKeyPEM is the key the token is bound to (RFC 9449), for a DPoP profile.
	DPoPKeyPEM string    `json:"dpop_key_pem,omitempty"`
	Token      Token     `json:"token"`
	LoggedIn   time.Time `json:"logged_in"`
	Refreshed  time.Time `json:"refreshed,omitzero"`
}

// EffectiveScopes are the scopes the token carries: as granted when the authorization
// server said, else as requested.
func (p *Profile) EffectiveScopes() []string {
	if len(p.GrantedScopes) > 0 {
		return p.GrantedScopes
	}
	return p.Scopes
}

// Store is the directory of profiles ($MCPCTL_HOME/auth, 0700).
type Store struct {
	Dir string
}

// ServerKey names a server in file names: a hash of its canonical URL, so that no URL
// reaches a path.
func ServerKey(serverURL string) string {
	s := serverURL
	if u, err := url.Parse(serverURL); err == nil && u.Host != "" {
		s = canonicalResource(u)
	}
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:10])
}

func (s Store) path(serverURL, profile string) string {
	return filepath.Join(s.Dir, ServerKey(serverURL)+"."+profile+".json")
}

func (s Store) lockPath(serverURL, profile string) string {
	return filepath.Join(s.Dir, ServerKey(serverURL)+"."+profile+".lock")
}

func checkProfileName(name string) error {
	if !ProfileNameRE.MatchString(name) {
		return fmt.Errorf("%w: profile name %q: names match ^[A-Za-z0-9_-]{1,64}$", ErrProfileFile, name)
	}
	return nil
}

// ensure creates the directory 0700 and refuses one that others can enter.
func (s Store) ensure() error {
	if err := os.MkdirAll(s.Dir, 0o700); err != nil {
		return err
	}
	fi, err := os.Lstat(s.Dir)
	if err != nil {
		return err
	}
	if !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%w: %s must be a directory with mode 0700 (has %v)", ErrProfileFile, s.Dir, fi.Mode())
	}
	return nil
}

// Load reads a profile. ErrNoProfile when there is none; ErrProfileFile when the file is
// not private to this user or is not a profile.
func (s Store) Load(serverURL, profile string) (*Profile, error) {
	if err := checkProfileName(profile); err != nil {
		return nil, err
	}
	return readProfile(s.path(serverURL, profile))
}

func readProfile(path string) (*Profile, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoProfile
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProfileFile, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrProfileFile, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrProfileFile, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o, want 0600 (chmod 600 it, or log in again)", ErrProfileFile, path, perm)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("%w: %s belongs to another user", ErrProfileFile, path)
	}
	var p Profile
	dec := json.NewDecoder(f)
	if err := dec.Decode(&p); err != nil {
		return nil, fmt.Errorf("%w: %s is not a profile: %v", ErrProfileFile, path, err)
	}
	if p.V != 1 || p.Server == "" || p.TokenEndpoint == "" || p.Token.AccessToken == "" || checkProfileName(p.Name) != nil {
		return nil, fmt.Errorf("%w: %s is not a complete profile", ErrProfileFile, path)
	}
	return &p, nil
}

// Save writes a profile atomically (temp 0600 in the same directory, fsync, rename, fsync
// the directory).
func (s Store) Save(p *Profile) error {
	if err := checkProfileName(p.Name); err != nil {
		return err
	}
	if err := s.ensure(); err != nil {
		return err
	}
	p.V = 1
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.path(p.Server, p.Name), append(b, '\n'))
}

func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // a no-op after the rename
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes a profile (ErrNoProfile when there is none).
func (s Store) Delete(serverURL, profile string) error {
	if err := checkProfileName(profile); err != nil {
		return err
	}
	err := os.Remove(s.path(serverURL, profile))
	if errors.Is(err, fs.ErrNotExist) {
		return ErrNoProfile
	}
	s.forgetChallenge(serverURL)
	return err
}

// Lock takes the profile's exclusive lock: every refresh and every write of a profile
// happens under it, so that of several holders only the first refresh takes effect.
func (s Store) Lock(serverURL, profile string) (unlock func(), err error) {
	if err := checkProfileName(profile); err != nil {
		return nil, err
	}
	if err := s.ensure(); err != nil {
		return nil, err
	}
	l := flock.New(s.lockPath(serverURL, profile), flock.SetPermissions(0o600))
	if err := l.Lock(); err != nil {
		return nil, fmt.Errorf("lock profile %s: %w", profile, err)
	}
	return func() { _ = l.Unlock() }, nil
}

// List reads every profile. A file that cannot be read is returned as an error entry,
// not skipped: `profiles` shows it.
func (s Store) List() ([]*Profile, map[string]error, error) {
	ents, err := os.ReadDir(s.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var out []*Profile
	bad := map[string]error{}
	for _, e := range ents {
		n := e.Name()
		if !strings.HasSuffix(n, ".json") || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".challenge.json") {
			continue
		}
		p, err := readProfile(filepath.Join(s.Dir, n))
		if err != nil {
			bad[n] = err
			continue
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Server != out[j].Server {
			return out[i].Server < out[j].Server
		}
		return out[i].Name < out[j].Name
	})
	return out, bad, nil
}

// Event is an event about the profile p of kind k (token_refreshed, logged_in,
// logged_out): its name, the server's origin, the scopes and the expiry, never a token.
func (p *Profile) Event(k events.Kind, node, session string, gen uint64) events.Event {
	e := events.New(k, node, session, gen)
	e.Profile, e.Scopes, e.Expiry = p.Name, p.EffectiveScopes(), p.Token.Expiry
	if u, err := url.Parse(p.Server); err == nil {
		e.Origin = u.Scheme + "://" + u.Host
	}
	return e
}
