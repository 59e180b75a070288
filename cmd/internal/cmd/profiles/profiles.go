package profiles

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/oauth"
)

type Options struct {
	F   *cmdkit.Factory
	Now func() time.Time
}

func NewCmdProfiles(f *cmdkit.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	o := &Options{F: f, Now: time.Now}
	return &cobra.Command{
		Use:   "profiles",
		Short: "List the OAuth profiles (server, profile, scopes, expiry, client registration; never a token)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return RunProfiles(cmd.Context(), o)
		},
	}
}

// Entry is one profile as shown.
type Entry struct {
	Server       string    `json:"server"`
	Profile      string    `json:"profile"`
	Issuer       string    `json:"issuer,omitempty"`
	Grant        string    `json:"grant,omitempty"`
	Registration string    `json:"registration,omitempty"`
	Scopes       []string  `json:"scopes"`
	Expiry       time.Time `json:"expiry,omitzero"`
	Refreshable  bool      `json:"refreshable"`
	LoggedIn     time.Time `json:"logged_in,omitzero"`
	Refreshed    time.Time `json:"refreshed,omitzero"`
	// File and Error: a profile file that could not be read.
	File  string `json:"file,omitempty"`
	Error string `json:"error,omitempty"`
}

func RunProfiles(_ context.Context, o *Options) error {
	f := o.F
	home, err := f.Home()
	if err != nil {
		return err
	}
	ps, bad, err := oauth.Store{Dir: home.AuthDir()}.List()
	if err != nil {
		return err
	}
	entries := []Entry{}
	for _, p := range ps {
		entries = append(entries, Entry{Server: p.Server, Profile: p.Name, Issuer: p.Issuer, Grant: p.Grant,
			Registration: p.Client.Registration, Scopes: p.EffectiveScopes(), Expiry: p.Token.Expiry,
			Refreshable: p.Token.RefreshToken != "" || p.Grant != "authorization_code", LoggedIn: p.LoggedIn, Refreshed: p.Refreshed})
	}
	var files []string
	for n := range bad {
		files = append(files, n)
	}
	sort.Strings(files)
	for _, n := range files {
		entries = append(entries, Entry{File: n, Error: bad[n].Error()})
	}
	if f.JSON {
		return cmdkit.WriteJSON(f.IO.Out, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintln(f.IO.Out, "no profiles (mcpctl login <server-url>)")
		return nil
	}
	tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVER\tPROFILE\tSCOPES\tEXPIRY\tCLIENT")
	for _, e := range entries {
		if e.Error != "" {
			fmt.Fprintf(tw, "?\t?\t\t\tunreadable %s: %s\n", e.File, e.Error)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Server, e.Profile, strings.Join(e.Scopes, " "), expiry(e, o.Now()), e.Registration)
	}
	return tw.Flush()
}

func expiry(e Entry, now time.Time) string {
	switch {
	case e.Expiry.IsZero():
		return "-"
	case e.Expiry.Before(now) && e.Refreshable:
		return "expired (refreshable)"
	case e.Expiry.Before(now):
		return "expired"
	}
	return "in " + e.Expiry.Sub(now).Round(time.Second).String()
}
