package bridgeproc

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth"
	"github.com/mcpctl/mcpctl/events"
)

// oauthHTTPClient is the HTTP client of a session that authorizes with an OAuth profile:
// the one connect named, else the server's default profile. The profile is read for every
// request, so a session connected before `mcpctl login` uses the login's tokens as soon as
// they exist. nil (the default client) for stdio servers, for sessions whose -H headers
// carry an Authorization of their own, and for connect --no-profile.
func oauthHTTPClient(home homedir.Home, server events.Server, sec homedir.Secrets, logger *slog.Logger) *http.Client {
	if server.Transport != events.TransportHTTP && server.Transport != events.TransportSSE {
		return nil
	}
	if sec.OAuthProfile == homedir.NoOAuthProfile {
		return nil
	}
	for k := range sec.Headers {
		if strings.EqualFold(k, "Authorization") {
			return nil
		}
	}
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &http.Client{Transport: &oauth.Transport{
		Base: base, Store: oauth.Store{Dir: home.AuthDir()}, Server: server.URL, Profile: sec.OAuthProfile, Logger: logger,
	}}
}
