package cmdkit

// External mode: with --nats-url (or MCPCTL_NATS_URL) the CLI, the hub and the bridges use
// an existing NATS cluster instead of the embedded server.
//
//	mcpctl (CLI) ──► NATS cluster (streams and KV, 3 replicas) ◄── hub of this node:
//	                                                                 projector + supervisor
//	                                                                 (no embedded server)
//
// The hub is still one per home and node, auto-started, and holds the store lock of the
// home, so that one supervisor acts for the node.

import (
	"os"
	"strconv"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"

	"github.com/spf13/pflag"

	"github.com/mcpctl/mcpctl/events/jetstream"
)

// externalFlags are the global flags of the external mode.
type externalFlags struct {
	url, creds, tlsCA, tlsCert, tlsKey string
	replicas                           int
}

func AddExternalFlags(pf *pflag.FlagSet, f *Factory) {
	pf.StringVar(&f.External.url, "nats-url", "", "use this NATS cluster instead of the embedded server (comma-separated URLs; env "+hubclient.EnvNATSURL+")")
	pf.StringVar(&f.External.creds, "nats-creds", "", "NATS credentials file (env "+hubclient.EnvNATSCreds+"; a token or user/password come from "+hubclient.EnvNATSToken+", "+hubclient.EnvNATSUser+"/"+hubclient.EnvNATSPassword+")")
	pf.StringVar(&f.External.tlsCA, "nats-tls-ca", "", "CA bundle that signs the NATS servers' certificates (env "+hubclient.EnvNATSTLSCA+")")
	pf.StringVar(&f.External.tlsCert, "nats-tls-cert", "", "client certificate for NATS TLS (env "+hubclient.EnvNATSTLSCert+")")
	pf.StringVar(&f.External.tlsKey, "nats-tls-key", "", "key of the client certificate (env "+hubclient.EnvNATSTLSKey+")")
	pf.IntVar(&f.External.replicas, "nats-replicas", 0, "replicas of the streams and the bucket when this CLI creates them (default 3; env "+hubclient.EnvNATSReplicas+")")
}

// clusterOptions returns the external cluster to use, and false in embedded mode.
func (f *Factory) ClusterOptions() (jetstream.ClusterOptions, bool, error) {
	pick := func(flag, env string) string {
		if flag != "" {
			return flag
		}
		return os.Getenv(env)
	}
	url := pick(f.External.url, hubclient.EnvNATSURL)
	if url == "" {
		return jetstream.ClusterOptions{}, false, nil
	}
	o := jetstream.ClusterOptions{
		URLs:      jetstream.ParseURLs(url),
		CredsFile: pick(f.External.creds, hubclient.EnvNATSCreds),
		Token:     os.Getenv(hubclient.EnvNATSToken),
		User:      os.Getenv(hubclient.EnvNATSUser),
		Password:  os.Getenv(hubclient.EnvNATSPassword),
		TLSCA:     pick(f.External.tlsCA, hubclient.EnvNATSTLSCA),
		TLSCert:   pick(f.External.tlsCert, hubclient.EnvNATSTLSCert),
		TLSKey:    pick(f.External.tlsKey, hubclient.EnvNATSTLSKey),
		Replicas:  f.External.replicas,
		OnDenied:  f.OnDenied,
	}
	if o.Replicas == 0 {
		if v := os.Getenv(hubclient.EnvNATSReplicas); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 5 {
				return o, true, clierr.UsageErr("%s=%q: want a replica count from 1 to 5", hubclient.EnvNATSReplicas, v)
			}
			o.Replicas = n
		}
	}
	if err := o.Validate(); err != nil {
		return o, true, clierr.WithHint(err, clierr.ExitUsage, "see README, \"Running on a cluster\"")
	}
	return o, true, nil
}

// Target resolves which hub this command reaches.
func (f *Factory) Target() (hubclient.HubTarget, error) {
	home, err := f.Home()
	if err != nil {
		return hubclient.HubTarget{}, err
	}
	node, err := f.Node()
	if err != nil {
		return hubclient.HubTarget{}, err
	}
	t := hubclient.HubTarget{Home: home, Node: node, Build: f.Build(), Self: f.Executable}
	o, external, err := f.ClusterOptions()
	if err != nil {
		return hubclient.HubTarget{}, err
	}
	if external {
		t.Cluster, t.ClusterEnv = &o, f.ExternalEnv()
	}
	return t, nil
}

// externalEnv is what a hub started by this CLI needs in its environment to reach the same
// cluster: flags become variables (the secrets are in the environment already).
func (f *Factory) ExternalEnv() []string {
	var env []string
	add := func(name, v string) {
		if v != "" {
			env = append(env, name+"="+v)
		}
	}
	add(hubclient.EnvNATSURL, f.External.url)
	add(hubclient.EnvNATSCreds, f.External.creds)
	add(hubclient.EnvNATSTLSCA, f.External.tlsCA)
	add(hubclient.EnvNATSTLSCert, f.External.tlsCert)
	add(hubclient.EnvNATSTLSKey, f.External.tlsKey)
	if f.External.replicas > 0 {
		add(hubclient.EnvNATSReplicas, strconv.Itoa(f.External.replicas))
	}
	return env
}
