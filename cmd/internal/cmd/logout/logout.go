package logout

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmd/login"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth"
	"github.com/mcpctl/mcpctl/events"
)

type Options struct {
	F       *cmdkit.Factory
	Server  string
	Profile string
}

func NewCmdLogout(f *cmdkit.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f}
	cmd := &cobra.Command{
		Use:   "logout <server-url>",
		Short: "Forget a server's OAuth profile (revoking its tokens where the server offers that)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Server = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunLogout(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Profile, "profile", oauth.DefaultProfile, "the profile to forget")
	return cmd
}

type logoutResult struct {
	Server  string `json:"server"`
	Profile string `json:"profile"`
	Revoked bool   `json:"revoked"`
	// RevokeError says why revocation failed; the profile is deleted anyway.
	RevokeError string `json:"revoke_error,omitempty"`
}

func RunLogout(ctx context.Context, o *Options) error {
	f := o.F
	if !oauth.ProfileNameRE.MatchString(o.Profile) {
		return clierr.UsageErr("--profile %q: names match ^[A-Za-z0-9_-]{1,64}$", o.Profile)
	}
	home, err := f.Home()
	if err != nil {
		return err
	}
	st := oauth.Store{Dir: home.AuthDir()}
	unlock, err := st.Lock(o.Server, o.Profile)
	if err != nil {
		return &clierr.Error{Code: clierr.ExitAuth, Err: err}
	}
	defer unlock()
	r := logoutResult{Server: o.Server, Profile: o.Profile}
	p, err := st.Load(o.Server, o.Profile)
	switch {
	case errors.Is(err, oauth.ErrNoProfile):
		return clierr.WithHint(fmt.Errorf("logout: no profile %s for %s", o.Profile, o.Server), clierr.ExitUsage, "mcpctl profiles")
	case errors.Is(err, oauth.ErrProfileFile):
		// Unreadable: nothing to revoke with; removing it is what the user asked.
		r.RevokeError = err.Error()
	case err != nil:
		return err
	default:
		rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := oauth.Revoke(rctx, &http.Client{Timeout: 15 * time.Second}, p)
		cancel()
		if err != nil {
			r.RevokeError = err.Error()
		} else {
			r.Revoked = p.RevocationEndpoint != ""
		}
	}
	if err := st.Delete(o.Server, o.Profile); err != nil && !errors.Is(err, oauth.ErrNoProfile) {
		return err
	}
	gone := p
	if gone == nil {
		gone = &oauth.Profile{Name: o.Profile, Server: o.Server}
	}
	login.RecordProfileEvent(ctx, f, events.KindLoggedOut, gone)
	if f.JSON {
		return cmdkit.WriteJSON(f.IO.Out, r)
	}
	msg := "logged out of " + o.Server + " (profile " + o.Profile + ")"
	switch {
	case r.Revoked:
		msg += "; the authorization server revoked the tokens"
	case r.RevokeError != "":
		msg += "; revocation failed: " + r.RevokeError
	default:
		msg += "; the authorization server offers no revocation"
	}
	fmt.Fprintln(f.IO.Out, msg)
	return nil
}
