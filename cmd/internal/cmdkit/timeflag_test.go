package cmdkit

import (
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

func TestParseTime_DurationsBeyondTheRangeAreRefused(t *testing.T) {
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in, want string // want: "" ok, else in the error
	}{
		{"10m", ""},
		{"3d", ""},
		{"106751d", ""},
		{"106751d23h", ""},
		{"106752d", "longer than 106751d"},
		{"106751d24h", "longer than 106751d"},
		{"99999999999999999999d", "longer than 106751d"},
		{"9999999999h", "longer than 106751d"},
		{"-3d", "not an RFC 3339 time"},
		{"1.5.5h", "not an RFC 3339 time"},
		{"2026-11-27T10:00:00Z", ""},
	} {
		got, err := ParseTime("since", tc.in, now)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("--since %s: %v", tc.in, err)
		case tc.want == "" && !got.Before(now):
			t.Errorf("--since %s = %v, not before now", tc.in, got)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("--since %s: err %v, want one saying %q", tc.in, err, tc.want)
		case tc.want != "" && clierr.ExitCode(err) != clierr.ExitUsage:
			t.Errorf("--since %s: exit %d, want 1", tc.in, clierr.ExitCode(err))
		}
	}
}
