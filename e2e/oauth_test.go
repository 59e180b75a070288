package e2e

// OAuth end to end: a real authorization server in this process on 127.0.0.1 guarding the
// test MCP server (a reverse proxy that checks bearer tokens in front of mcptestserver
// --http), real mcpctl, hub and bridge processes, and e2e/conformance -browser as $BROWSER.
//
//	go test ./e2e -run TestOAuth -v

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/testwait"
)

// oauthAS is the authorization server and the protected MCP endpoint. Access tokens live
// TTL; refresh tokens rotate, and a spent one is refused with invalid_grant (counted).
type oauthAS struct {
	*httptest.Server
	TTL time.Duration

	mu      sync.Mutex
	codes   map[string]bool
	access  map[string]time.Time
	refresh map[string]bool // refresh token → not yet spent
	issued  []string        // every token value handed out, for the leak checks

	Refreshes    atomic.Int64
	InvalidGrant atomic.Int64
	Refused      atomic.Int64 // MCP requests refused with 401
	n            atomic.Int64
}

func newOAuthAS(t *testing.T, upstream string, ttl time.Duration) *oauthAS {
	t.Helper()
	up, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	as := &oauthAS{TTL: ttl, codes: map[string]bool{}, access: map[string]time.Time{}, refresh: map[string]bool{}}
	proxy := httputil.NewSingleHostReverseProxy(up)
	proxy.FlushInterval = -1 // SSE streams pass through as they come
	mux := http.NewServeMux()
	as.Server = httptest.NewServer(mux)
	t.Cleanup(as.Close)
	js := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"resource": as.URL + "/mcp", "authorization_servers": []string{as.URL}, "scopes_supported": []string{"mcp"}})
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		js(w, 200, map[string]any{"issuer": as.URL, "authorization_endpoint": as.URL + "/authorize",
			"token_endpoint": as.URL + "/token", "registration_endpoint": as.URL + "/register",
			"code_challenge_methods_supported": []string{"S256"}, "token_endpoint_auth_methods_supported": []string{"none"},
			"grant_types_supported": []string{"authorization_code", "refresh_token"}, "scopes_supported": []string{"mcp", "offline_access"},
			"authorization_response_iss_parameter_supported": true})
	})
	mux.HandleFunc("/register", func(w http.ResponseWriter, r *http.Request) {
		js(w, 201, map[string]any{"client_id": fmt.Sprintf("client-%d", as.n.Add(1)), "token_endpoint_auth_method": "none"})
	})
	mux.HandleFunc("/authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		code := fmt.Sprintf("code-%d", as.n.Add(1))
		as.mu.Lock()
		as.codes[code] = true
		as.mu.Unlock()
		ru, _ := url.Parse(q.Get("redirect_uri"))
		ru.RawQuery = url.Values{"code": {code}, "state": {q.Get("state")}, "iss": {as.URL}}.Encode()
		http.Redirect(w, r, ru.String(), http.StatusFound)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		f := r.PostForm
		as.mu.Lock()
		defer as.mu.Unlock()
		switch f.Get("grant_type") {
		case "authorization_code":
			if !as.codes[f.Get("code")] || f.Get("code_verifier") == "" || f.Get("resource") != as.URL+"/mcp" {
				js(w, 400, map[string]string{"error": "invalid_grant"})
				return
			}
			delete(as.codes, f.Get("code"))
		case "refresh_token":
			if !as.refresh[f.Get("refresh_token")] {
				as.InvalidGrant.Add(1)
				js(w, 400, map[string]string{"error": "invalid_grant", "error_description": "refresh token spent or revoked"})
				return
			}
			as.refresh[f.Get("refresh_token")] = false
			as.Refreshes.Add(1)
		default:
			js(w, 400, map[string]string{"error": "unsupported_grant_type"})
			return
		}
		n := as.n.Add(1)
		at, rt := fmt.Sprintf("e2e-at-%d-%x", n, time.Now().UnixNano()), fmt.Sprintf("e2e-rt-%d-%x", n, time.Now().UnixNano())
		as.access[at] = time.Now().Add(as.TTL)
		as.refresh[rt] = true
		as.issued = append(as.issued, at, rt)
		js(w, 200, map[string]any{"access_token": at, "refresh_token": rt, "token_type": "Bearer",
			"expires_in": int(as.TTL / time.Second), "scope": "mcp offline_access"})
	})
	mux.HandleFunc("/mcp", func(w http.ResponseWriter, r *http.Request) {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		as.mu.Lock()
		exp, ok := as.access[tok]
		as.mu.Unlock()
		if !ok || time.Now().After(exp) {
			as.Refused.Add(1)
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer resource_metadata="%s/.well-known/oauth-protected-resource/mcp", scope="mcp"`, as.URL))
			js(w, 401, map[string]string{"error": "invalid_token"})
			return
		}
		r.Header.Del("Authorization")
		proxy.ServeHTTP(w, r)
	})
	return as
}

// revokeAll forgets every token: the login has expired for good.
func (as *oauthAS) revokeAll() {
	as.mu.Lock()
	defer as.mu.Unlock()
	as.access = map[string]time.Time{}
	as.refresh = map[string]bool{}
}

func (as *oauthAS) tokens() []string {
	as.mu.Lock()
	defer as.mu.Unlock()
	return append([]string(nil), as.issued...)
}

// oauthEnv is a home whose $BROWSER completes the authorization step by itself.
func oauthEnv(t *testing.T) *env {
	e := isolated(t)
	e.extra = append(e.extra, "BROWSER="+conformanceClient(t)+" -browser")
	return e
}

// TestOAuth_ExpiredLoginThenLoginAgain: a session on a profile works; when the refresh
// token is revoked the next call exits 4 with the exact login command; after that login
// the same session works again, without connect.
func TestOAuth_ExpiredLoginThenLoginAgain(t *testing.T) {
	e := oauthEnv(t)
	mcpURL, _ := startHTTPServer(t)
	as := newOAuthAS(t, strings.TrimSuffix(mcpURL, "/mcp"), time.Hour)
	t.Cleanup(func() { e.run("clean", "--all") })
	server := as.URL + "/mcp"

	// Not logged in: connect is refused with the login command.
	r := e.run("connect", server, "@o")
	if r.Code != 4 || !strings.Contains(r.Stderr, "Try: mcpctl login "+server+" --scope mcp\n") {
		t.Fatalf("connect before login: want exit 4 and the login hint\n%s", r)
	}
	e.ok("login", server)
	e.ok("connect", server, "@o")
	e.ok("@o", "tools-call", "echo", "text:=hi")

	as.revokeAll()
	r = e.run("@o", "tools-call", "echo", "text:=again")
	if r.Code != 4 || !strings.Contains(r.Stderr, "Try: mcpctl login "+server+" --scope mcp\n") {
		t.Fatalf("call after the login expired: want exit 4 and the exact login command\n%s", r)
	}
	var ss []struct {
		Name   string `json:"session"`
		Status string `json:"status"`
	}
	testwait.For(t, 15*time.Second, func() error {
		e.jsonOK(&ss, "sessions")
		for _, s := range ss {
			if s.Name == "o" && s.Status == "unauthorized" {
				return nil
			}
		}
		return fmt.Errorf("sessions: %+v, want @o unauthorized", ss)
	})
	if r := e.ok("sessions"); !strings.Contains(r.Stdout, "@o is unauthorized. Try: mcpctl login "+server+" --scope mcp\n") {
		t.Errorf("sessions does not say how to fix @o:\n%s", r)
	}
	// The refusal is an event with the profile's facts.
	var refused bool
	for _, ev := range e.events("--session", "o", "--type", "unauthorized") {
		refused = refused || (ev.Profile == "default" && ev.Origin == as.URL && strings.Join(ev.Scopes, " ") == "mcp")
	}
	if !refused {
		t.Errorf("no unauthorized event of @o with profile default, origin %s and scope mcp: %+v", as.URL,
			e.events("--session", "o", "--type", "unauthorized"))
	}
	r = e.run("@o", "tools-list")
	if r.Code != 4 || !strings.Contains(r.Stderr, "Try: mcpctl login "+server) {
		t.Fatalf("call on the unauthorized session: want exit 4 and the login hint\n%s", r)
	}

	e.ok("login", server)
	r = e.ok("@o", "tools-call", "echo", "text:=back")
	if !strings.Contains(r.Stdout, "back") {
		t.Errorf("call after login again: %s", r)
	}
	assertNoTokenLeak(t, e, as.tokens())
}

// TestOAuth_RotationRace: 16 sessions on one profile, access tokens that live a second,
// refresh tokens that rotate (reuse refused), 64 parallel calls for 30 s: every call
// succeeds, no refresh token is ever used twice, and there is one refresh per expiry.
func TestOAuth_RotationRace(t *testing.T) {
	if testing.Short() {
		t.Skip("30 s of load")
	}
	const (
		sessions = 16
		workers  = 64
		ttl      = time.Second
	)
	duration := 30 * time.Second
	e := oauthEnv(t)
	mcpURL, _ := startHTTPServer(t)
	as := newOAuthAS(t, strings.TrimSuffix(mcpURL, "/mcp"), ttl)
	t.Cleanup(func() { e.run("clean", "--all") }) // before the server closes: the bridges hold streams open
	server := as.URL + "/mcp"
	e.ok("login", server)
	for i := range sessions {
		e.ok("connect", server, fmt.Sprintf("@r%d", i))
	}
	before := as.Refreshes.Load()
	start := time.Now()
	var calls, failed atomic.Int64
	var firstFail atomic.Value
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Since(start) < duration; i++ {
				r := e.run(fmt.Sprintf("@r%d", (w+i)%sessions), "tools-call", "echo", fmt.Sprintf("text:=w%d-%d", w, i))
				calls.Add(1)
				if r.Code != 0 {
					failed.Add(1)
					firstFail.CompareAndSwap(nil, r.String())
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	refreshes := as.Refreshes.Load() - before
	t.Logf("%d calls in %s on %d sessions: %d failed, %d refreshes, %d invalid_grant, %d requests refused with 401",
		calls.Load(), took.Round(time.Millisecond), sessions, failed.Load(), refreshes, as.InvalidGrant.Load(), as.Refused.Load())
	if failed.Load() != 0 {
		t.Errorf("%d calls failed; the first:\n%v", failed.Load(), firstFail.Load())
	}
	if n := as.InvalidGrant.Load(); n != 0 {
		t.Errorf("%d refreshes used a spent refresh token (invalid_grant): refreshes were not serialized", n)
	}
	// One refresh per expiry: a token is refreshed a fifth of its life before it expires,
	// so about took/(0.8·ttl) refreshes; two per expiry would double that.
	if max := int64(took/(ttl*8/10)) + 2; refreshes > max {
		t.Errorf("%d refreshes in %s with %s tokens: more than one per expiry (max %d)", refreshes, took, ttl, max)
	}
	// And the token was kept fresh (a loose bound: under load a refresh may wait for the
	// 401 of an expired token, which still makes one refresh for that expiry).
	if min := int64(took / (2 * ttl)); refreshes < min {
		t.Errorf("%d refreshes in %s with %s tokens: the calls did not keep the token fresh (want at least %d)", refreshes, took, ttl, min)
	}
	// Every refresh is a token_refreshed event of the bridge that made it (the bridges made
	// them all): profile, origin, scopes, expiry.
	total := as.Refreshes.Load()
	testwait.For(t, 15*time.Second, func() error {
		evs := e.events("--type", "token_refreshed")
		if int64(len(evs)) != total {
			return fmt.Errorf("%d token_refreshed events, %d refreshes", len(evs), total)
		}
		for _, ev := range evs {
			if ev.Profile != "default" || ev.Origin != as.URL || len(ev.Scopes) == 0 || ev.Expiry.IsZero() {
				return fmt.Errorf("token_refreshed event without its facts: %+v", ev)
			}
		}
		return nil
	})
	assertNoTokenLeak(t, e, as.tokens())
}

// assertNoTokenLeak greps the home (event log and KV stores, logs, secrets; not the
// profiles, where tokens belong), what `events` and `sessions` print, and the command line
// and environment of every process for any token the authorization server handed out.
func assertNoTokenLeak(t *testing.T, e *env, tokens []string) {
	t.Helper()
	if len(tokens) == 0 {
		t.Fatal("no tokens were issued: nothing to look for")
	}
	leak := func(where string, b []byte) {
		for _, tok := range tokens {
			if strings.Contains(string(b), tok) {
				t.Errorf("token %s… found in %s", tok[:10], where)
				return
			}
		}
	}
	auth := filepath.Join(e.home, "auth")
	files := 0
	_ = filepath.WalkDir(e.home, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Dir(p) == auth {
			return nil
		}
		b, err := os.ReadFile(p)
		if err == nil {
			files++
			leak(p, b)
		}
		return nil
	})
	if files == 0 {
		t.Errorf("found no files under %s to check", e.home)
	}
	// The control: the profiles do hold a token, so the grep would see one.
	profiles, _ := filepath.Glob(filepath.Join(auth, "*.json"))
	held := false
	for _, p := range profiles {
		b, _ := os.ReadFile(p)
		for _, tok := range tokens {
			held = held || strings.Contains(string(b), tok)
		}
	}
	if !held {
		t.Errorf("no profile under %s holds any issued token: the leak check would not see one either", auth)
	}
	leak("mcpctl events --json", []byte(e.ok("--json", "events").Stdout))
	leak("mcpctl sessions --json", []byte(e.ok("--json", "sessions").Stdout))
	leak("mcpctl profiles --json", []byte(e.ok("--json", "profiles").Stdout))
	for _, kind := range []string{"cmdline", "environ"} {
		ps, _ := filepath.Glob("/proc/[0-9]*/" + kind)
		for _, p := range ps {
			if b, err := os.ReadFile(p); err == nil {
				leak(p, b)
			}
		}
	}
}

// TestOAuth_ProfilesOfASession: connect --profile and --no-profile choose what a session
// sends; a profile file others can read is refused by name (exit 4), and fixed it serves
// again after a restart.
func TestOAuth_ProfilesOfASession(t *testing.T) {
	e := oauthEnv(t)
	mcpURL, _ := startHTTPServer(t)
	as := newOAuthAS(t, strings.TrimSuffix(mcpURL, "/mcp"), time.Hour)
	t.Cleanup(func() { e.run("clean", "--all") })
	server := as.URL + "/mcp"
	e.ok("login", server, "--profile", "work")

	// The default profile does not exist: refused, and the hint is the default login.
	if r := e.run("connect", server, "@d"); r.Code != 4 || !strings.Contains(r.Stderr, "Try: mcpctl login "+server+" --scope mcp\n") {
		t.Errorf("connect without a default profile:\n%s", r)
	}
	// --no-profile sends nothing: the hint is not a login.
	if r := e.run("connect", server, "@n", "--no-profile"); r.Code != 4 || strings.Contains(r.Stderr, "mcpctl login") {
		t.Errorf("connect --no-profile:\n%s", r)
	}
	if r := e.run("connect", server, "@x", "--profile", "work", "--no-profile"); r.Code != 1 {
		t.Errorf("--profile with --no-profile:\n%s", r)
	}
	e.ok("connect", server, "@w", "--profile", "work")
	e.ok("@w", "tools-call", "echo", "text:=hi")

	files, _ := filepath.Glob(filepath.Join(e.home, "auth", "*.work.json"))
	if len(files) != 1 {
		t.Fatalf("profile files: %v", files)
	}
	as.revokeAll() // the bridge must read the file again, and finds it unusable
	if err := os.Chmod(files[0], 0o644); err != nil {
		t.Fatal(err)
	}
	r := e.run("@w", "tools-call", "echo", "text:=again")
	if r.Code != 4 || !strings.Contains(r.Stderr, "want 0600") || !strings.Contains(r.Stderr, "mcpctl login "+server+" --profile work") {
		t.Errorf("call with a 0644 profile file: want exit 4 naming the file's mode and the login\n%s", r)
	}
	r = e.run("--json", "profiles")
	if !strings.Contains(r.Stdout, "want 0600") {
		t.Errorf("profiles with a 0644 file:\n%s", r)
	}
	if err := os.Chmod(files[0], 0o600); err != nil {
		t.Fatal(err)
	}
	e.ok("login", server, "--profile", "work")
	e.ok("@w", "tools-call", "echo", "text:=back")
	assertNoTokenLeak(t, e, as.tokens())

	// Logins and logouts are events under the reserved name _profiles: the profile, the
	// server's origin, the scopes and the expiry, never a token.
	if r := e.ok("logout", server, "--profile", "work"); r.Stderr != "" {
		t.Errorf("logout warned:\n%s", r)
	}
	r = e.ok("events", "--json", "--session", "_profiles")
	profileEvents := r.Stdout
	var kinds []string
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var ev events.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("events line %q: %v", line, err)
		}
		kinds = append(kinds, string(ev.Type))
		if ev.Profile != "work" || ev.Origin != strings.TrimSuffix(as.URL, "/") || ev.Session != events.ProfilesSession {
			t.Errorf("profile event %s: want profile work, origin %s", line, as.URL)
		}
		if ev.Type == events.KindLoggedIn && (len(ev.Scopes) == 0 || ev.Expiry.IsZero()) {
			t.Errorf("logged_in without scopes or expiry: %s", line)
		}
	}
	if want := []string{"logged_in", "logged_in", "logged_out"}; !slices.Equal(kinds, want) {
		t.Errorf("profile events %v, want %v:\n%s", kinds, want, r.Stdout)
	}
	if r := e.run("connect", server, "@_profiles"); r.Code != 1 || !strings.Contains(r.Stderr, "reserved") {
		t.Errorf("connect @_profiles: want exit 1, the name is reserved\n%s", r)
	}
	if r := e.ok("sessions"); strings.Contains(r.Stdout, "_profiles") {
		t.Errorf("the profile events' name is listed as a session:\n%s", r.Stdout)
	}
	for _, tok := range as.tokens() {
		if strings.Contains(profileEvents, tok) {
			t.Errorf("a token in the profile events")
		}
	}
}
