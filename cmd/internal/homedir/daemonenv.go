package homedir

import (
	"strings"
)

// The hub and the bridges are started with a minimal environment, not the environment of
// whichever CLI happened to start them: a hub started from a shell holding a cloud token
// would otherwise pass it on to every bridge and every stdio server of every later session.
// A stdio server's environment is the connecting CLI's instead (secrets.Inherited).
//
// What a daemon keeps:
//   - what any process needs to run and to find things: PATH, HOME, USER, LOGNAME, SHELL,
//     TMPDIR, TZ, LANG, LC_*;
//   - the Go runtime's knobs (GODEBUG, GOTRACEBACK, GOMAXPROCS, GOMEMLIMIT, GOGC, GORACE,
//     GOCOVERDIR), which change how our own binaries run, not what they do;
//   - mcpctl's own settings: MCPCTL_HOME, MCPCTL_NODE, MCPCTL_BRIDGE, MCPCTL_HUB_IDLE;
//   - in external mode only (MCPCTL_NATS_URL or --nats-url), MCPCTL_NATS_*: the hub and the
//     bridges connect to the cluster with them. In embedded mode they are dropped.
var daemonEnvNames = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "SHELL": true, "TMPDIR": true,
	"TZ": true, "LANG": true,
	"GODEBUG": true, "GOTRACEBACK": true, "GOMAXPROCS": true, "GOMEMLIMIT": true, "GOGC": true,
	"GORACE": true, "GOCOVERDIR": true,
	"MCPCTL_HOME": true, "MCPCTL_NODE": true, "MCPCTL_BRIDGE": true, "MCPCTL_HUB_IDLE": true,
}

// daemonEnv filters environ down to what the hub or a bridge needs (see daemonEnvNames).
func DaemonEnv(environ []string, external bool) []string {
	var out []string
	for _, kv := range environ {
		k, _, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if daemonEnvNames[k] || strings.HasPrefix(k, "LC_") || external && strings.HasPrefix(k, "MCPCTL_NATS_") {
			out = append(out, kv)
		}
	}
	return out
}
