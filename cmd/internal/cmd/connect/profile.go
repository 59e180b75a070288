package connect

import (
	"github.com/spf13/pflag"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth"
)

// profileFlags choose the OAuth profile an HTTP session authorizes with (mcpctl login):
// by default the server's default profile, when it has one.
type profileFlags struct {
	profile   string
	noProfile bool
}

func addProfileFlags(fl *pflag.FlagSet, p *profileFlags) {
	fl.StringVar(&p.profile, "profile", "", "the OAuth profile to authorize with (mcpctl login --profile); default: the server's default profile, if logged in")
	fl.BoolVar(&p.noProfile, "no-profile", false, "send no OAuth token, even when logged in to the server")
}

// secretsValue is what the session's secrets file records (homedir.Secrets.OAuthProfile).
func (p profileFlags) secretsValue() (string, error) {
	switch {
	case p.noProfile && p.profile != "":
		return "", clierr.UsageErr("--profile and --no-profile exclude each other")
	case p.noProfile:
		return homedir.NoOAuthProfile, nil
	case p.profile != "" && !oauth.ProfileNameRE.MatchString(p.profile):
		return "", clierr.UsageErr("--profile %q: names match ^[A-Za-z0-9_-]{1,64}$", p.profile)
	}
	return p.profile, nil
}
