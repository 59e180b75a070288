package cmdkit

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
)

// parseTime reads an RFC 3339 time or a duration before now ("10m", "1h30m", "2d"). A
// duration longer than time.Duration holds (about 292 years, 106751d) is refused: it used to
// wrap around to a time in the future and match nothing, silently.
func ParseTime(flag, v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	bad := clierr.UsageErr("--%s %q: not an RFC 3339 time (2026-11-27T10:00:00Z) nor a duration ago (10m, 2h, 3d)", flag, v)
	tooLong := clierr.WithHint(fmt.Errorf("--%s %q: a duration longer than %dd is not supported", flag, v, maxDays), clierr.ExitUsage,
		"an RFC 3339 time, e.g. --"+flag+" 2000-01-01T00:00:00Z")
	d := v
	var days int64
	if i := strings.IndexByte(d, 'd'); i > 0 {
		n, err := strconv.ParseInt(d[:i], 10, 64)
		if err == nil {
			if n < 0 {
				return time.Time{}, bad
			}
			if n > maxDays {
				return time.Time{}, tooLong
			}
			days, d = n, d[i+1:]
		} else if errors.Is(err, strconv.ErrRange) {
			return time.Time{}, tooLong
		}
	}
	var dur time.Duration
	if d != "" {
		var err error
		dur, err = time.ParseDuration(d)
		if err != nil && durationSyntax.MatchString(d) {
			return time.Time{}, tooLong // well formed, so too large for a Duration
		}
		if err != nil || dur < 0 {
			return time.Time{}, bad
		}
	}
	back := time.Duration(days) * 24 * time.Hour
	if dur > math.MaxInt64-back {
		return time.Time{}, tooLong
	}
	return now.Add(-dur - back), nil
}

// durationSyntax is what time.ParseDuration accepts (without a sign).
var durationSyntax = regexp.MustCompile(`^([0-9]+(\.[0-9]*)?(ns|us|µs|μs|ms|s|m|h))+$`)

// maxDays is the longest "Nd" a duration ago may be: time.Duration's range.
const maxDays = int64(math.MaxInt64 / int64(24*time.Hour))

// ParseTimeout reads a --timeout value: a number of seconds ("30", "1.5") as mcpc takes it,
// or a Go duration with its unit ("30s", "1m30s"). It must be more than 0 (and fit a
// time.Duration).
func ParseTimeout(s string) (time.Duration, error) {
	var d time.Duration
	if secs, err := strconv.ParseFloat(s, 64); err == nil && plainNumber.MatchString(s) {
		if secs > float64(math.MaxInt64)/float64(time.Second) {
			return 0, fmt.Errorf("too long (at most %dd; e.g. 30 for 30 seconds, 5m)", maxDays)
		}
		d = time.Duration(secs * float64(time.Second))
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("not a duration (e.g. 30 for 30 seconds, 30s, 5m)")
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("must be more than 0 (e.g. 30 for 30 seconds, 5m; a long call: --timeout 24h)")
	}
	return d, nil
}

// plainNumber is a number of seconds as --timeout takes it: digits with an optional
// fraction, no sign, exponent, "Inf" or "NaN" (which ParseFloat would take).
var plainNumber = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)
