package jetstream

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"

	njs "github.com/nats-io/nats.go/jetstream"
)

// Sizing the store to its filesystem. nats-server reserves each stream's MaxBytes up front
// against the server's MaxStore, which by default is 75% of the space free when it starts:
// the 1 GiB + 256 MiB of the default limits made a hub on a filesystem with less than
// ~1.7 GiB free refuse to start. The hub therefore sizes both to what its filesystem holds.
const (
	// eventsShare and notifyShare are the parts of the budget (free space plus what the
	// store already holds) the two streams may grow to when the defaults do not fit.
	eventsShare = 2 // 1/2
	notifyShare = 8 // 1/8
	// MinStreamBytes is the smallest size limit given to a stream.
	MinStreamBytes = 1 << 20

	// JetStream error codes nats.go does not name.
	errCodeInsufficientResources    njs.ErrorCode = 10023 // "insufficient resources"
	errCodeStorageResourcesExceeded njs.ErrorCode = 10047 // "insufficient storage resources available"
)

// Space is what the filesystem under a store offers.
type Space struct {
	// Free is the space an unprivileged writer may still use (statfs f_bavail).
	Free int64
	// Total is the size of the filesystem.
	Total int64
	// Used is what the store's files occupy now.
	Used int64
}

// Budget is the space the store may grow to: what is free plus what it already holds.
func (s Space) Budget() int64 { return s.Free + s.Used }

// StoreSpace measures the filesystem holding dir (or, while dir does not exist, its
// nearest existing parent) and the files under dir.
func StoreSpace(dir string) (Space, error) {
	var st syscall.Statfs_t
	for d := dir; ; d = filepath.Dir(d) {
		err := syscall.Statfs(d, &st)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.ENOENT) || d == filepath.Dir(d) {
			return Space{}, fmt.Errorf("statfs %s: %w", d, err)
		}
	}
	sp := Space{Free: int64(st.Bavail) * int64(st.Bsize), Total: int64(st.Blocks) * int64(st.Bsize)}
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // files come and go under a running server
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				sp.Used += fi.Size()
			}
		}
		return nil
	})
	return sp, nil
}

// FitLimits returns the events and notification size limits to use on a filesystem with
// space sp: the wanted ones when both fit in three quarters of the budget, else shares of
// the budget (never below MinStreamBytes). A limit <= 0 means none and is kept.
func FitLimits(sp Space, events, notify int64) (int64, int64) {
	budget := sp.Budget()
	if events+notify <= budget/4*3 {
		return events, notify
	}
	fit := func(want, share int64) int64 {
		if want <= 0 {
			return want
		}
		return min(want, max(budget/share, MinStreamBytes))
	}
	return fit(events, eventsShare), fit(notify, notifyShare)
}

// IsNoSpace reports an error that says the store's filesystem is full, or that nats-server
// refused a stream for want of storage.
func IsNoSpace(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var apiErr *njs.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == errCodeInsufficientResources ||
		apiErr.ErrorCode == errCodeStorageResourcesExceeded) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "no space left") || strings.Contains(s, "insufficient storage") ||
		strings.Contains(s, "resource limits exceeded")
}

// HumanBytes prints n in binary units.
func HumanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Resuming after a full disk.
const (
	// resumeFreeMax is the free space a hub waits for before it starts JetStream again
	// (less on a small filesystem: resumeFreeShare of it).
	resumeFreeMax   = 4 << 20
	resumeFreeShare = 16
)

// ResumeFree is the free space after which JetStream is started again.
func ResumeFree(sp Space) int64 {
	if sp.Total > 0 {
		return min(resumeFreeMax, sp.Total/resumeFreeShare)
	}
	return resumeFreeMax
}
