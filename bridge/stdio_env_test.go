package bridge

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestServerEnv_BaseWithoutMcpctlVariablesAndEnvOnTop(t *testing.T) {
	got := ServerEnv([]string{"PATH=/bin", "MCPCTL_NATS_TOKEN=t", "A=base", "B=base"}, map[string]string{"A": "flag", "MCPCTL_X": "asked-for"})
	want := []string{"A=flag", "B=base", "MCPCTL_X=asked-for", "PATH=/bin"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ServerEnv = %q, want %q", got, want)
	}
	t.Setenv("MCPCTL_NATS_TOKEN", "bridge-token")
	for _, kv := range ServerEnv(nil, nil) {
		if kv == "MCPCTL_NATS_TOKEN=bridge-token" {
			t.Errorf("without a captured environment the bridge's MCPCTL_* still reached the server")
		}
	}
}

func TestLookPathIn_UsesTheServersPATH(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "my-server")
	if err := os.WriteFile(exe, []byte("#!/bin/sh\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "not-exec"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", "/nonexistent") // the bridge's own PATH must not matter
	got, err := lookPathIn("my-server", []string{"PATH=/nowhere:" + dir}, "")
	if err != nil || got != exe {
		t.Errorf("lookPathIn = %q, %v; want %q", got, err, exe)
	}
	if _, err := lookPathIn("not-exec", []string{"PATH=" + dir}, ""); err == nil {
		t.Error("a file without x bits was found")
	}
	if _, err := lookPathIn("my-server", []string{"HOME=/"}, ""); err == nil {
		t.Error("found without a PATH")
	}
	if got, err := lookPathIn("./rel/x", nil, ""); err != nil || got != "./rel/x" {
		t.Errorf("a path with a slash: %q, %v", got, err)
	}
}
