package sessioncall

import (
	"errors"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/projector"
)

// sessionProfile is the OAuth profile a session authorizes with, and its server URL; ok
// false for a session that uses none (stdio, its own Authorization header, --no-profile).
func sessionProfile(f *cmdkit.Factory, s projector.Session) (st oauth.Store, server, profile string, ok bool) {
	if s.Server.Transport != events.TransportHTTP && s.Server.Transport != events.TransportSSE {
		return st, "", "", false
	}
	home, err := f.Home()
	if err != nil {
		return st, "", "", false
	}
	sec, err := homedir.ReadSecrets(home, s.Server.Secrets)
	if err != nil || sec.OAuthProfile == homedir.NoOAuthProfile {
		return st, "", "", false
	}
	for _, h := range s.Server.HeaderNames {
		if h == "Authorization" || h == "authorization" {
			return st, "", "", false
		}
	}
	server = s.Server.URL
	if sec.URL != "" {
		server = sec.URL
	}
	return oauth.Store{Dir: home.AuthDir()}, server, sec.OAuthProfile, true
}

// AuthHint is what fixes a session's refused credentials: the exact login command, or why
// logging in again would not help; "" for a session without an OAuth profile.
func AuthHint(f *cmdkit.Factory, s projector.Session) string { return authHint(f, s) }

func authHint(f *cmdkit.Factory, s projector.Session) string {
	st, server, profile, ok := sessionProfile(f, s)
	if !ok {
		return ""
	}
	h, _ := st.LoginHint(redactedURL(s, server), profile)
	return h
}

// redactedURL: a server URL with a secret query is shown as the session shows it.
func redactedURL(s projector.Session, real string) string {
	if real != s.Server.URL {
		return s.Server.URL
	}
	return real
}

// loggedInSinceRefused reports whether the session's profile was logged in after the
// session was refused: then a new bridge is worth starting.
func loggedInSinceRefused(f *cmdkit.Factory, s projector.Session) bool {
	st, server, profile, ok := sessionProfile(f, s)
	if !ok {
		return false
	}
	if profile == "" {
		profile = oauth.DefaultProfile
	}
	p, err := st.Load(server, profile)
	if err != nil {
		return false
	}
	// The refusal's own time when the bridge recorded it: the unauthorized event may be
	// appended after a quick login.
	refused := s.Updated
	if t := st.LastRefusal(server); !t.IsZero() && t.Before(refused) {
		refused = t
	}
	return p.LoggedIn.After(refused)
}

// withAuthHint adds the login hint to an authentication error that has none.
func withAuthHint(f *cmdkit.Factory, s projector.Session, err error) error {
	var ce *clierr.Error
	if !errors.As(err, &ce) || ce.Code != clierr.ExitAuth || ce.Hint != "" {
		return err
	}
	if h := authHint(f, s); h != "" {
		ce.Hint = h
	}
	return err
}
