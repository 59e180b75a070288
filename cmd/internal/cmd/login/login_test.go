package login_test

// login, profiles and logout through the whole CLI (cli.Run: parsing, exit codes, output)
// against a real test authorization server; $BROWSER is this test binary in browser mode.

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/cli"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth/oauthtest"
)

const browserEnv = "MCPCTL_LOGIN_TEST_BROWSER"

func TestMain(m *testing.M) {
	if os.Getenv(browserEnv) == "1" && len(os.Args) > 1 {
		// The browser: follow the authorization URL's redirects to the loopback listener.
		resp, err := http.Get(os.Args[len(os.Args)-1])
		if err != nil {
			os.Exit(1)
		}
		resp.Body.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type run struct {
	code        int
	out, errOut string
}

func mcpctl(t *testing.T, stdin string, args ...string) run {
	t.Helper()
	io, out, errOut := cmdkit.Test(stdin)
	code := cli.Run(context.Background(), args, io)
	return run{code, out.String(), errOut.String()}
}

func setup(t *testing.T) (*oauthtest.AS, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	t.Setenv("MCPCTL_HOME", home)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("BROWSER", exe)
	t.Setenv(browserEnv, "1")
	return oauthtest.New(t), home
}

func TestLogin_Profiles_Logout(t *testing.T) {
	as, home := setup(t)
	srv := as.URL + "/mcp"

	r := mcpctl(t, "", "--json", "login", srv, "--scope", "mcp")
	if r.code != 0 {
		t.Fatalf("login: exit %d\n%s", r.code, r.errOut)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(r.out), &res); err != nil {
		t.Fatalf("login --json: %v: %s", err, r.out)
	}
	if res["profile"] != "default" || res["registration"] != "dynamic" || res["refreshable"] != true {
		t.Errorf("login --json = %v", res)
	}
	if strings.Contains(r.out+r.errOut, "secretvalue") {
		t.Errorf("login printed a token:\n%s\n%s", r.out, r.errOut)
	}

	r = mcpctl(t, "", "profiles")
	if r.code != 0 || !strings.Contains(r.out, srv) || !strings.Contains(r.out, "mcp offline_access") ||
		!strings.Contains(r.out, "dynamic") || strings.Contains(r.out, "secretvalue") {
		t.Errorf("profiles: exit %d\n%s", r.code, r.out)
	}

	// A profile file others can read is refused by name, and profiles says so.
	files, _ := filepath.Glob(filepath.Join(home, "auth", "*.default.json"))
	if len(files) != 1 {
		t.Fatalf("profile files: %v", files)
	}
	_ = os.Chmod(files[0], 0o644)
	r = mcpctl(t, "", "profiles")
	if !strings.Contains(r.out, "unreadable") || !strings.Contains(r.out, "want 0600") {
		t.Errorf("profiles with a 0644 file:\n%s", r.out)
	}
	_ = os.Chmod(files[0], 0o600)

	r = mcpctl(t, "", "logout", srv)
	if r.code != 0 || !strings.Contains(r.out, "revoked") {
		t.Errorf("logout: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	if as.Revoked.Load() != 2 {
		t.Errorf("revocation requests = %d, want 2 (refresh and access token)", as.Revoked.Load())
	}
	if r := mcpctl(t, "", "logout", srv); r.code != 1 {
		t.Errorf("second logout: exit %d, want 1\n%s", r.code, r.errOut)
	}
	if r := mcpctl(t, "", "profiles"); !strings.Contains(r.out, "no profiles") {
		t.Errorf("profiles after logout:\n%s", r.out)
	}
}

func TestLogin_RefusedIsExit4AndStoresNothing(t *testing.T) {
	as, home := setup(t)
	as.WrongState = true
	r := mcpctl(t, "", "login", as.URL+"/mcp")
	if r.code != 4 || !strings.Contains(r.errOut, "state does not match") || !strings.Contains(r.errOut, "Try: mcpctl login "+as.URL+"/mcp") {
		t.Errorf("login with a forged state: exit %d\n%s", r.code, r.errOut)
	}
	if files, _ := filepath.Glob(filepath.Join(home, "auth", "*.json")); len(files) != 0 {
		t.Errorf("a refused login stored %v", files)
	}
}

func TestLogin_Usage(t *testing.T) {
	setup(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"login", "https://h/mcp", "--client-id", "x", "--client-secret", "s3cret"}, "readable by every user"},
		{[]string{"login", "https://h/mcp", "--client-secret", "@f"}, "needs --client-id"},
		{[]string{"login", "https://h/mcp", "--profile", "../x"}, "names match"},
		{[]string{"login", "ftp://h/mcp"}, "http(s) URL"},
		{[]string{"login", "https://h/mcp", "--client-credentials"}, "needs --client-id"},
		{[]string{"login", "https://h/mcp", "--client-metadata-url", "http://h/c.json"}, "https URL"},
		{[]string{"login", "https://h/mcp", "--client-id", "w", "--assertion", "eyJ.eyJ.sig"}, "takes @FILE"},
		{[]string{"login", "https://h/mcp", "--assertion", "@/nonexistent"}, "needs --client-id"},
	} {
		r := mcpctl(t, "", c.args...)
		if r.code != 1 || !strings.Contains(r.errOut, c.want) {
			t.Errorf("mcpctl %v: exit %d, want 1 saying %q\n%s", c.args, r.code, c.want, r.errOut)
		}
	}
}

func TestLogin_ClientCredentialsSecretFromStdin(t *testing.T) {
	as, _ := setup(t)
	r := mcpctl(t, "s3cret\n", "--json", "login", as.URL+"/mcp", "--client-credentials", "--client-id", "machine", "--client-secret", "-")
	if r.code != 0 || !strings.Contains(r.out, `"grant": "client_credentials"`) {
		t.Fatalf("client credentials login: exit %d\n%s%s", r.code, r.out, r.errOut)
	}
	r = mcpctl(t, "wrong\n", "login", as.URL+"/mcp", "--profile", "bad", "--client-credentials", "--client-id", "machine", "--client-secret", "-")
	if r.code != 4 || !strings.Contains(r.errOut, "invalid_client") {
		t.Errorf("wrong secret: exit %d\n%s", r.code, r.errOut)
	}
}

func TestLogin_UnreachableServerIsANetworkError(t *testing.T) {
	setup(t)
	r := mcpctl(t, "", "login", "http://127.0.0.1:1/mcp")
	if r.code != 3 || !strings.Contains(r.errOut, "check that the server is reachable") {
		t.Errorf("login to a closed port: exit %d, want 3\n%s", r.code, r.errOut)
	}
}
