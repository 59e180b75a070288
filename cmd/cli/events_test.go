package cli

import (
	"strings"
	"testing"
	"time"
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
		got, err := parseTime("since", tc.in, now)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("--since %s: %v", tc.in, err)
		case tc.want == "" && !got.Before(now):
			t.Errorf("--since %s = %v, not before now", tc.in, got)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("--since %s: err %v, want one saying %q", tc.in, err, tc.want)
		case tc.want != "" && exitCode(err) != ExitUsage:
			t.Errorf("--since %s: exit %d, want 1", tc.in, exitCode(err))
		}
	}
}

func TestEventsParse_AfterTheLargestSequenceIsRefused(t *testing.T) {
	for _, flag := range []string{"--after-seq", "--after-notify-seq"} {
		code, out, errOut := runCLI(t, "events", flag, "18446744073709551615")
		if code != ExitUsage || out != "" || !strings.Contains(errOut, "no event can come after the largest sequence") {
			t.Errorf("events %s 2^64-1: exit %d, stdout %q, stderr %q", flag, code, out, errOut)
		}
	}
}
