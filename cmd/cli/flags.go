package cli

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

	"github.com/spf13/pflag"

	"github.com/mcpctl/mcpctl/events/jetstream"
)

// Environment of the external mode. The flags of the same names override them; secrets
// (token, password) are taken from the environment only, never from a command line.
const (
	envNATSURL      = "MCPCTL_NATS_URL"
	envNATSCreds    = "MCPCTL_NATS_CREDS"
	envNATSToken    = "MCPCTL_NATS_TOKEN"
	envNATSUser     = "MCPCTL_NATS_USER"
	envNATSPassword = "MCPCTL_NATS_PASSWORD"
	envNATSTLSCA    = "MCPCTL_NATS_TLS_CA"
	envNATSTLSCert  = "MCPCTL_NATS_TLS_CERT"
	envNATSTLSKey   = "MCPCTL_NATS_TLS_KEY"
	envNATSReplicas = "MCPCTL_NATS_REPLICAS"
)

// externalFlags are the global flags of the external mode.
type externalFlags struct {
	url, creds, tlsCA, tlsCert, tlsKey string
	replicas                           int
}

func addExternalFlags(pf *pflag.FlagSet, f *Factory) {
	pf.StringVar(&f.External.url, "nats-url", "", "use this NATS cluster instead of the embedded server (comma-separated URLs; env "+envNATSURL+")")
	pf.StringVar(&f.External.creds, "nats-creds", "", "NATS credentials file (env "+envNATSCreds+"; a token or user/password come from "+envNATSToken+", "+envNATSUser+"/"+envNATSPassword+")")
	pf.StringVar(&f.External.tlsCA, "nats-tls-ca", "", "CA bundle that signs the NATS servers' certificates (env "+envNATSTLSCA+")")
	pf.StringVar(&f.External.tlsCert, "nats-tls-cert", "", "client certificate for NATS TLS (env "+envNATSTLSCert+")")
	pf.StringVar(&f.External.tlsKey, "nats-tls-key", "", "key of the client certificate (env "+envNATSTLSKey+")")
	pf.IntVar(&f.External.replicas, "nats-replicas", 0, "replicas of the streams and the bucket when this CLI creates them (default 3; env "+envNATSReplicas+")")
}

// clusterOptions returns the external cluster to use, and false in embedded mode.
func (f *Factory) clusterOptions() (jetstream.ClusterOptions, bool, error) {
	pick := func(flag, env string) string {
		if flag != "" {
			return flag
		}
		return os.Getenv(env)
	}
	url := pick(f.External.url, envNATSURL)
	if url == "" {
		return jetstream.ClusterOptions{}, false, nil
	}
	o := jetstream.ClusterOptions{
		URLs:      jetstream.ParseURLs(url),
		CredsFile: pick(f.External.creds, envNATSCreds),
		Token:     os.Getenv(envNATSToken),
		User:      os.Getenv(envNATSUser),
		Password:  os.Getenv(envNATSPassword),
		TLSCA:     pick(f.External.tlsCA, envNATSTLSCA),
		TLSCert:   pick(f.External.tlsCert, envNATSTLSCert),
		TLSKey:    pick(f.External.tlsKey, envNATSTLSKey),
		Replicas:  f.External.replicas,
	}
	if o.Replicas == 0 {
		if v := os.Getenv(envNATSReplicas); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 5 {
				return o, true, usageErr("%s=%q: want a replica count from 1 to 5", envNATSReplicas, v)
			}
			o.Replicas = n
		}
	}
	if err := o.Validate(); err != nil {
		return o, true, withHint(err, ExitUsage, "see README, \"Running on a cluster\"")
	}
	return o, true, nil
}

// Target resolves which hub this command reaches.
func (f *Factory) Target() (HubTarget, error) {
	home, err := f.Home()
	if err != nil {
		return HubTarget{}, err
	}
	node, err := f.Node()
	if err != nil {
		return HubTarget{}, err
	}
	t := HubTarget{Home: home, Node: node, Build: f.Build(), Self: f.Executable}
	o, external, err := f.clusterOptions()
	if err != nil {
		return HubTarget{}, err
	}
	if external {
		t.Cluster, t.ClusterEnv = &o, f.externalEnv()
	}
	return t, nil
}

// externalEnv is what a hub started by this CLI needs in its environment to reach the same
// cluster: flags become variables (the secrets are in the environment already).
func (f *Factory) externalEnv() []string {
	var env []string
	add := func(name, v string) {
		if v != "" {
			env = append(env, name+"="+v)
		}
	}
	add(envNATSURL, f.External.url)
	add(envNATSCreds, f.External.creds)
	add(envNATSTLSCA, f.External.tlsCA)
	add(envNATSTLSCert, f.External.tlsCert)
	add(envNATSTLSKey, f.External.tlsKey)
	if f.External.replicas > 0 {
		add(envNATSReplicas, strconv.Itoa(f.External.replicas))
	}
	return env
}
