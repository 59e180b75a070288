package doctor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/clierr"
	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/mcpctl/mcpctl/cmd/internal/homedir"
	"github.com/mcpctl/mcpctl/cmd/internal/hubclient"

	"github.com/gofrs/flock"
	"github.com/spf13/cobra"

	"github.com/mcpctl/mcpctl/bridge/proc"
	"github.com/mcpctl/mcpctl/events"
	"github.com/mcpctl/mcpctl/events/jetstream"
	"github.com/mcpctl/mcpctl/projector"
)

type doctorOptions struct {
	f      *cmdkit.Factory
	repair bool
}

type check struct {
	Name   string   `json:"name"`
	OK     bool     `json:"ok"`
	Detail string   `json:"detail"`
	Diff   []string `json:"diff,omitempty"`
}

func NewCmdDoctor(f *cmdkit.Factory) *cobra.Command {
	o := &doctorOptions{f: f}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the hub, the store lock, and that the session state equals a replay of the log",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDoctor(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.repair, "repair", false, "rebuild the session state from the log (recreate the KV bucket and fold every event) and say what could not be recovered")
	return cmd
}

func runDoctor(ctx context.Context, o *doctorOptions) error {
	f := o.f
	var checks []check
	add := func(c check) { checks = append(checks, c) }

	home, err := f.Home()
	if err != nil {
		return err
	}
	add(homeCheck(home))
	if c, bad := addressCheck(home); bad {
		add(c)
	}
	hub, err := f.Hub(ctx)
	if err != nil {
		add(check{Name: "hub", Detail: err.Error()})
		if _, external, _ := f.ClusterOptions(); !external {
			add(storageCheck(ctx, home, nil))
		}
		return finishDoctor(f, checks)
	}
	add(check{Name: "hub", OK: true, Detail: fmt.Sprintf("pid %d at %s, build %s", hub.Addr.PID, hub.Addr.URL, hub.Addr.Build)})
	add(lockCheck(home, hub.Addr.PID))
	if _, external, _ := f.ClusterOptions(); !external {
		add(storageCheck(ctx, home, hub))
	}

	if info, err := hub.Admin.Stream(ctx, events.EventsStream); err != nil {
		add(check{Name: "event log", Detail: err.Error()})
	} else {
		add(check{Name: "event log", OK: true, Detail: fmt.Sprintf("%d events (seq %d..%d), %s", info.Msgs, info.FirstSeq,
			info.LastSeq, humanBytes(info.Bytes))})
	}
	add(integrityCheck(ctx, hub))
	add(replayCheck(ctx, hub))
	if o.repair {
		r := repairProjection(ctx, hub)
		for i := range checks {
			if checks[i].Name == "projection" && !checks[i].OK {
				checks[i] = replayCheck(ctx, hub)
				checks[i].Detail = "after repair: " + checks[i].Detail
			}
		}
		restartHubAfterRepair(ctx, hub, &r)
		add(r)
	}
	return finishDoctor(f, checks)
}

func homeCheck(home homedir.Home) check {
	c := check{Name: "home", Detail: home.Dir}
	fi, err := os.Stat(home.Dir)
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	if err := homedir.CheckPrivateDir(home.Dir, "home", fi); err != nil {
		c.Detail = fmt.Sprintf("%v; %s", err, clierr.HintOf(err))
		return c
	}
	if fi, err := os.Stat(home.TokenFile()); err == nil && fi.Mode().Perm()&0o077 != 0 {
		c.Detail = fmt.Sprintf("%s has mode %04o: run chmod 600 %s", home.TokenFile(), fi.Mode().Perm(), home.TokenFile())
		return c
	}
	c.OK = true
	return c
}

// lockCheck confirms that someone holds the store lock, taking the spawn lock first so that
// the probe cannot race a hub start.
func lockCheck(home homedir.Home, hubPID int) check {
	c := check{Name: "store lock"}
	spawn := flock.New(home.SpawnLock())
	if err := spawn.Lock(); err != nil {
		c.Detail = err.Error()
		return c
	}
	defer spawn.Unlock()
	path := filepath.Join(home.StoreDir(), "store.lock")
	probe := flock.New(path)
	got, err := probe.TryLock()
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	if got {
		_ = probe.Unlock()
		c.Detail = path + " is not held: the store has no owner"
		return c
	}
	if _, err := proc.StartTime(hubPID); err != nil {
		c.Detail = fmt.Sprintf("%s is held, but the hub pid %d is gone", path, hubPID)
		return c
	}
	c.OK, c.Detail = true, fmt.Sprintf("%s held (hub pid %d)", path, hubPID)
	return c
}

// replayCheck folds the whole log afresh and compares it with the KV the hub maintains.
func replayCheck(ctx context.Context, hub *hubclient.HubConn) check {
	// The log can grow while the check runs (a bridge exits, a policy restart): a KV read
	// past the head that was replayed is not a difference. Compare a KV whose position is
	// the replayed head, read again after the sessions; retry a few times while it moves.
	var c check
	for attempt := 0; attempt < 5; attempt++ {
		var moved bool
		if c, moved = replayCheckAt(ctx, hub); !moved {
			break
		}
	}
	return c
}

// replayCheckAt compares the KV with a replay of the log up to its current head; moved
// says the log or the KV went past that head meanwhile (a difference proves nothing then).
func replayCheckAt(ctx context.Context, hub *hubclient.HubConn) (check, bool) {
	c := check{Name: "projection"}
	head, err := hub.Log.Head(ctx)
	if err != nil {
		c.Detail = err.Error()
		return c, false
	}
	// The KV may trail the log by a few milliseconds: wait for it to reach the head we saw.
	if err := waitPosition(ctx, hub.Store, hub.Node, head, 5*time.Second); err != nil {
		c.Detail = fmt.Sprintf("the KV did not reach sequence %d: %v", head, err)
		return c, false
	}
	fresh, err := projector.Fold(ctx, hub.Log, events.Query{}, func(e events.Event) bool { return e.Seq > head })
	if err != nil {
		c.Detail = err.Error()
		return c, false
	}
	// The replay covers the log up to head even when the last events are gone (a store
	// block that lost its tail): the follower's position moves to the head the same way.
	fresh.Pos = max(fresh.Pos, head)
	kv, err := projector.LoadAll(ctx, hub.Store, "")
	if err != nil {
		c.Detail = err.Error()
		return c, false
	}
	// Every node's sessions, but this node's position: the hub writes =position.<node>.
	if kv.Pos, err = projector.NodePosition(ctx, hub.Store, hub.Node); err != nil {
		c.Detail = err.Error()
		return c, false
	}
	info, _ := hub.Admin.Stream(ctx, events.EventsStream)
	if info.FirstSeq > 1 {
		c.OK = true
		c.Detail = fmt.Sprintf("the log was truncated by retention (first kept seq %d): a replay cannot rebuild older sessions; KV holds %d", info.FirstSeq, len(kv.Sessions))
		return c, false
	}
	if diff := kv.Equal(fresh); len(diff) > 0 {
		c.Detail = fmt.Sprintf("the KV differs from a replay of %d events", head)
		c.Diff = diff
		now, err := hub.Log.Head(ctx)
		return c, kv.Pos > head || (err == nil && now > head)
	}
	c.OK, c.Detail = true, fmt.Sprintf("KV equals a fresh replay of %d events (%d sessions, %d skipped)", head, len(fresh.Sessions), fresh.Skipped)
	return c, false
}

func finishDoctor(f *cmdkit.Factory, checks []check) error {
	failed := 0
	for _, c := range checks {
		if !c.OK {
			failed++
		}
	}
	if f.JSON {
		if err := cmdkit.WriteJSON(f.IO.Out, map[string]any{"ok": failed == 0, "checks": checks}); err != nil {
			return err
		}
	} else {
		for _, c := range checks {
			mark := f.IO.Color("32", "ok  ")
			if !c.OK {
				mark = f.IO.Color("31", "FAIL")
			}
			fmt.Fprintf(f.IO.Out, "%s %-12s %s\n", mark, c.Name, c.Detail)
			for _, d := range c.Diff {
				fmt.Fprintf(f.IO.Out, "       %s\n", d)
			}
		}
	}
	if failed > 0 {
		return &clierr.Error{Code: clierr.ExitNetwork, Err: fmt.Errorf("%d check(s) failed: %w", failed, cmdkit.ErrSilent)}
	}
	return nil
}

func humanBytes(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// waitPosition waits until the KV has materialized the log up to seq, watching the
// follower's position key.
func waitPosition(ctx context.Context, store hubclient.Store, node string, seq uint64, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	pos, err := projector.WaitNodePosition(wctx, store, store, node, seq)
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("KV position %d after %s", pos, timeout)
	}
	return err
}

// storageCheck shows the space the store has and the limits it runs with: the free space
// of the home's filesystem, what the store uses, the streams' size limits, and the hub's
// storage fault when it has one. hub may be nil (no hub answered).
func storageCheck(ctx context.Context, home homedir.Home, hub *hubclient.HubConn) check {
	c := check{Name: "storage"}
	sp, err := jetstream.StoreSpace(home.StoreDir())
	if err != nil {
		c.Detail = err.Error()
		return c
	}
	c.Detail = fmt.Sprintf("%s free of %s on the filesystem of %s; the store uses %s", jetstream.HumanBytes(sp.Free),
		jetstream.HumanBytes(sp.Total), home.Dir, jetstream.HumanBytes(sp.Used))
	if hub == nil {
		c.OK = sp.Free >= jetstream.ResumeFree(sp)
		return c
	}
	if ferr := hub.Admin.Fault(ctx); ferr != nil {
		c.Detail += "; " + ferr.Error()
		return c
	}
	var lims []string
	for _, name := range []string{events.EventsStream, events.NotifyStream} {
		st, err := hub.Admin.Stream(ctx, name)
		if err != nil {
			c.Detail += fmt.Sprintf("; stream %s: %v", name, err)
			return c
		}
		limit := "none"
		if mb := st.MaxBytes; mb > 0 {
			limit = jetstream.HumanBytes(mb)
		}
		lims = append(lims, fmt.Sprintf("%s %s (holds %s)", name, limit, humanBytes(st.Bytes)))
	}
	c.Detail += "; size limits: " + strings.Join(lims, ", ")
	if sp.Free < jetstream.ResumeFree(sp) {
		c.Detail += "; the disk is nearly full: writes will fail"
		return c
	}
	c.OK = true
	return c
}
