package homedir

import (
	"reflect"
	"testing"
)

func TestInheritedEnv_DropsMcpctlsOwnVariables(t *testing.T) {
	got := InheritedEnv([]string{"PATH=/bin", "MCPCTL_NATS_TOKEN=t", "MCPCTL_HOME=/h", "MY_VAR=1", "=C:=x", "BROKEN", "A B=1", "EMPTY="})
	want := map[string]string{"PATH": "/bin", "MY_VAR": "1", "EMPTY": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("inheritedEnv = %v, want %v", got, want)
	}
}

func TestDaemonEnv_IsMinimal(t *testing.T) {
	environ := []string{"PATH=/bin", "HOME=/h", "LC_ALL=C", "AWS_SECRET_ACCESS_KEY=x", "MY_VAR=1",
		"MCPCTL_HOME=/m", "MCPCTL_NODE=n", "MCPCTL_NATS_TOKEN=t", "MCPCTL_NATS_URL=nats://x", "MCPCTL_OTHER=o", "GOTRACEBACK=all"}
	embedded := []string{"PATH=/bin", "HOME=/h", "LC_ALL=C", "MCPCTL_HOME=/m", "MCPCTL_NODE=n", "GOTRACEBACK=all"}
	if got := DaemonEnv(environ, false); !reflect.DeepEqual(got, embedded) {
		t.Errorf("embedded: daemonEnv = %q, want %q", got, embedded)
	}
	external := []string{"PATH=/bin", "HOME=/h", "LC_ALL=C", "MCPCTL_HOME=/m", "MCPCTL_NODE=n", "MCPCTL_NATS_TOKEN=t", "MCPCTL_NATS_URL=nats://x", "GOTRACEBACK=all"}
	if got := DaemonEnv(environ, true); !reflect.DeepEqual(got, external) {
		t.Errorf("external: daemonEnv = %q, want %q", got, external)
	}
}
