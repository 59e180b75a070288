package e2e

// The conformance suite's authorization scenarios (auth/*), with mcpctl as the client: the
// scenario's MCP server refuses the client until it has a token from the scenario's
// authorization server. e2e/conformance reacts as a user does — a command exits 4 with
// the `mcpctl login` command that fixes it, it runs that command and the refused one
// again — and $BROWSER is e2e/conformance in its -browser mode, a non-interactive browser
// that follows the authorization URL's redirects to mcpctl's loopback listener. mcpctl is
// configured with a client ID metadata document URL (the one the suite's basic-cimd
// scenario expects a client to have), used only where an authorization server says it
// accepts those.
//
//	go test ./e2e -run TestConformance_AuthScenarios -v
//	go test ./e2e -run 'TestConformance_AuthScenarios/auth/scope-step-up' -v

import (
	"strings"
	"testing"
)

// conformanceAuthScenarios are every auth/* client scenario of the pinned suite: each dated
// one at every revision the suite applies it to (`conformance list`), and the extension
// ones (client credentials, DPoP, workload identity, enterprise-managed authorization) once,
// with no revision ("" lets the suite choose).
var conformanceAuthScenarios = []struct {
	name     string
	versions []string
}{
	{"auth/metadata-default", []string{"2025-11-25", "2026-07-28"}},
	{"auth/metadata-var1", []string{"2025-11-25", "2026-07-28"}},
	{"auth/metadata-var2", []string{"2025-11-25", "2026-07-28"}},
	{"auth/metadata-var3", []string{"2025-11-25", "2026-07-28"}},
	{"auth/basic-cimd", []string{"2025-11-25", "2026-07-28"}},
	{"auth/scope-from-www-authenticate", []string{"2025-11-25", "2026-07-28"}},
	{"auth/scope-from-scopes-supported", []string{"2025-11-25", "2026-07-28"}},
	{"auth/scope-omitted-when-undefined", []string{"2025-11-25", "2026-07-28"}},
	{"auth/scope-step-up", []string{"2025-11-25", "2026-07-28"}},
	{"auth/scope-retry-limit", []string{"2025-11-25", "2026-07-28"}},
	{"auth/token-endpoint-auth-basic", []string{"2025-06-18", "2025-11-25", "2026-07-28"}},
	{"auth/token-endpoint-auth-post", []string{"2025-06-18", "2025-11-25", "2026-07-28"}},
	{"auth/token-endpoint-auth-none", []string{"2025-06-18", "2025-11-25", "2026-07-28"}},
	{"auth/pre-registration", []string{"2025-11-25", "2026-07-28"}},
	{"auth/2025-03-26-oauth-metadata-backcompat", []string{"2025-03-26"}},
	{"auth/2025-03-26-oauth-endpoint-fallback", []string{"2025-03-26"}},
	{"auth/resource-mismatch", []string{"2026-07-28"}},
	{"auth/offline-access-scope", []string{"2026-07-28"}},
	{"auth/offline-access-not-supported", []string{"2026-07-28"}},
	{"auth/authorization-server-migration", []string{"2026-07-28"}},
	{"auth/iss-supported", []string{"2026-07-28"}},
	{"auth/iss-not-advertised", []string{"2026-07-28"}},
	{"auth/iss-supported-missing", []string{"2026-07-28"}},
	{"auth/iss-wrong-issuer", []string{"2026-07-28"}},
	{"auth/iss-unexpected", []string{"2026-07-28"}},
	{"auth/iss-normalized", []string{"2026-07-28"}},
	{"auth/metadata-issuer-mismatch", []string{"2026-07-28"}},
	{"auth/client-credentials-basic", []string{""}},
	{"auth/client-credentials-jwt", []string{""}},
	{"auth/dpop", []string{""}},
	{"auth/dpop-nonce", []string{""}},
	{"auth/wif-jwt-bearer", []string{""}},
	{"auth/enterprise-managed-authorization", []string{""}},
}

// conformanceClientMetadataURL is mcpctl's client ID metadata document in these runs.
const conformanceClientMetadataURL = "https://conformance-test.local/client-metadata.json"

func TestConformance_AuthScenarios(t *testing.T) {
	node, entry := conformanceSuite(t)
	client := conformanceClient(t)
	preload := conformancePreload(t)
	command := client + " -mcpctl " + mcpctlBin
	if strings.Count(command, " ") != 2 {
		t.Fatalf("the suite splits its --command on spaces, and a path has one: %q", command)
	}
	env := []string{"BROWSER=" + client + " -browser", "MCPCTL_CLIENT_METADATA_URL=" + conformanceClientMetadataURL}
	sem := make(chan struct{}, 3)
	for _, sc := range conformanceAuthScenarios {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			for _, version := range sc.versions {
				name := version
				if name == "" {
					name = "extension"
				}
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					sem <- struct{}{}
					defer func() { <-sem }()
					runConformanceScenario(t, node, preload, entry, command, sc.name, version, env...)
				})
			}
		})
	}
}
