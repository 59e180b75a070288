package homedir

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"

	"github.com/mcpctl/mcpctl/events"
)

// homeDir returns a fresh directory with the given mode (umask does not apply).
func homeDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "home")
	homeTestNoErr(t, os.Mkdir(d, 0o700))
	homeTestNoErr(t, os.Chmod(d, mode))
	t.Cleanup(func() { _ = os.Chmod(d, 0o700) })
	return d
}

func homeTestNoErr(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func listDir(t *testing.T, d string) []string {
	t.Helper()
	ents, err := os.ReadDir(d)
	homeTestNoErr(t, err)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

func TestHomeEnsure_CreatesPrivateDirectories(t *testing.T) {
	h := Home{Dir: homeDir(t, 0o700)}
	homeTestNoErr(t, h.Ensure())
	for _, d := range []string{h.LogDir(), h.BridgeDir(), h.SecretsDir()} {
		fi, err := os.Lstat(d)
		if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, mode %v; want a 0700 directory", d, err, fi.Mode())
		}
	}
	homeTestNoErr(t, h.Ensure()) // a second time: what is there is fine
}

func TestHomeEnsure_ASharedDirectoryIsRefusedWithoutSuggestingChmod(t *testing.T) {
	for _, tc := range []struct {
		mode      os.FileMode
		want      string
		hint      string
		forbidden string
	}{
		{os.ModeSticky | 0o777, "mode 1777, a directory shared with other users", "MCPCTL_HOME=$(mktemp -d)", "chmod"},
		{0o777, "mode 0777, a directory shared with other users", "MCPCTL_HOME=$(mktemp -d)", "chmod"},
		{0o755, "mode 0755, other users could reach", "chmod 700 ", ""},
	} {
		d := homeDir(t, tc.mode)
		err := Home{Dir: d}.Ensure()
		if err == nil || !errors.Is(err, events.ErrUnsafe) || !strings.Contains(err.Error(), tc.want) || clierr.ExitCode(err) != clierr.ExitUsage {
			t.Errorf("home %v: err %v, want exit 1 saying %q", tc.mode, err, tc.want)
			continue
		}
		hint := clierr.HintOf(err)
		if !strings.Contains(hint, tc.hint) || (tc.forbidden != "" && strings.Contains(hint, tc.forbidden)) {
			t.Errorf("home %v: hint %q, want %q and never %q", tc.mode, hint, tc.hint, tc.forbidden)
		}
		if got := listDir(t, d); len(got) != 0 {
			t.Errorf("home %v: the refused home now holds %v", tc.mode, got)
		}
	}
}

func TestHomeEnsure_SubdirectoriesMustBeRealPrivateDirectories(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, home string)
		want  string
		hint  string
	}{
		{"logs is a symlink into a world-writable directory", func(t *testing.T, home string) {
			ww := homeDir(t, os.ModeSticky|0o777)
			homeTestNoErr(t, os.Symlink(ww, filepath.Join(home, "logs")))
		}, "logs/ of the home " + "%s/logs is a symbolic link", "rm %s/logs"},
		{"secrets is a symlink", func(t *testing.T, home string) {
			homeTestNoErr(t, os.Symlink(homeDir(t, 0o700), filepath.Join(home, "secrets")))
		}, "secrets/ of the home %s/secrets is a symbolic link", "rm %s/secrets"},
		{"logs has mode 0755", func(t *testing.T, home string) {
			homeTestNoErr(t, os.Mkdir(filepath.Join(home, "logs"), 0o700))
			homeTestNoErr(t, os.Chmod(filepath.Join(home, "logs"), 0o755))
		}, "%s/logs has mode 0755", "chmod 700 %s/logs"},
		{"secrets is a file", func(t *testing.T, home string) {
			homeTestNoErr(t, os.WriteFile(filepath.Join(home, "secrets"), nil, 0o600))
		}, "%s/secrets is not a directory", "mv %s/secrets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := homeDir(t, 0o700)
			tc.setup(t, home)
			before := listDir(t, home)
			err := Home{Dir: home}.Ensure()
			want, hint := strings.ReplaceAll(tc.want, "%s", home), strings.ReplaceAll(tc.hint, "%s", home)
			if err == nil || !strings.Contains(err.Error(), want) || clierr.ExitCode(err) != clierr.ExitUsage || !strings.Contains(clierr.HintOf(err), hint) {
				t.Fatalf("err %v (hint %q), want exit 1 saying %q with hint %q", err, clierr.HintOf(err), want, hint)
			}
			if after := listDir(t, home); !slices.Equal(before, after) {
				t.Errorf("the refused home went from %v to %v", before, after)
			}
		})
	}
}
