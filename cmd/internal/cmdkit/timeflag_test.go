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

func TestParseTimeout_PlainNumbersAreSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string // in the error when not ""
	}{
		{"30", 30 * time.Second, ""},
		{"1", time.Second, ""},
		{"1.5", 1500 * time.Millisecond, ""},
		{"30s", 30 * time.Second, ""},
		{"1m", time.Minute, ""},
		{"100ms", 100 * time.Millisecond, ""},
		{"0", 0, "must be more than 0"},
		{"0s", 0, "must be more than 0"},
		{"0.0000000001", 0, "must be more than 0"},
		{"-5", 0, "not a duration"},
		{"+5", 0, "not a duration"},
		{"1e3", 0, "not a duration"},
		{"NaN", 0, "not a duration"},
		{"Inf", 0, "not a duration"},
		{"soon", 0, "not a duration"},
		{"99999999999999", 0, "too long"},
	} {
		got, err := ParseTimeout(tc.in)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("ParseTimeout(%q): %v, want %s", tc.in, err, tc.want)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("ParseTimeout(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
		case tc.err == "" && got != tc.want:
			t.Errorf("ParseTimeout(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
