// Package oauth is mcpctl's MCP authorization client (OAuth 2.1 per the MCP authorization
// spec): discovery of the protected resource and its authorization server, client
// identification, the authorization code flow with PKCE through a loopback redirect, client
// credentials, and the per-profile token store whose refreshes are serialized by a file
// lock. The CLI's login/logout/profiles commands and the bridge's HTTP transport both use
// it, so it imports neither mcp-go nor NATS.
//
// golang.org/x/oauth2 does the token endpoint work: the authorization URL with the PKCE
// S256 challenge, the code exchange with the verifier, refresh, the client credentials
// grant, and the client authentication styles (HTTP Basic or form parameters). Everything
// around it — discovery, registration, the redirect listener, state and iss checks, the
// resource indicator, storage and locking — is here.
package oauth
