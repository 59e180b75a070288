// Package hubclient is how a client reaches the hub: read hub.json and the token, dial; when
// no hub answers, take the spawn lock, check again, replace a hub only by the liveness rule
// (gone, another build, token refused, answering without its store), start mcpctld hub run
// detached and wait on its readiness pipe. In external mode it dials the cluster and makes sure
// this node's hub runs.
package hubclient
