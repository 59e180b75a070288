package sessioncall

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/cmd/internal/cmdkit"
	"github.com/spf13/pflag"

	"golang.org/x/sys/unix"

	"github.com/mcpctl/mcpctl/bridge/proc"
)

// launchedTogetherAt is when the restart this process belongs to was asked for: the start
// of this process or, earlier, of a sibling (a child of the same parent) still running the
// same `mcpctl restart` of the same session.
//
// A shell loop `for …; do mcpctl restart @s & done` forks its children one after another,
// starved by the ones already started, over longer than a whole restart on a loaded
// machine: the last ones start after the first restart was ready, and on their own start
// time alone each would ask for another. Started by one parent without waiting for each
// other, they are one request. `mcpctl restart @s; mcpctl restart @s` stays two: the shell
// waited for the first before it started the second, which finds no running sibling.
// Anything unreadable (no /proc, another user's process) counts as no sibling.
func LaunchedTogetherAt(own time.Time, global *pflag.FlagSet) time.Time {
	key, ok := restartKey(os.Args[1:], global)
	if !ok {
		return own
	}
	self, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return own
	}
	var boot unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &boot) != nil {
		return own
	}
	now, sinceBoot := time.Now(), time.Duration(boot.Nano())
	earliest := own
	for _, pid := range siblings() {
		if exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); err != nil || exe != self {
			continue
		}
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if k, ok := restartKey(args[1:], global); !ok || k != key || !sameTarget(pid) {
			continue
		}
		st, err := proc.ReadStat(pid)
		if err != nil || st.State == 'Z' || st.State == 'X' {
			continue
		}
		if t := startedAt(now, sinceBoot, st.StartTime); t.Before(earliest) {
			earliest = t
		}
	}
	return earliest
}

// targetEnv names the variables that say which home, node and cluster a command acts on:
// a sibling restarting a session of the same name elsewhere (another home: parallel tests
// share their parent) is another request.
var targetEnv = []string{"MCPCTL_HOME", "MCPCTL_NODE", "MCPCTL_NATS_URL"}

// sameTarget reports whether process pid acts on the same home, node and cluster as this one.
func sameTarget(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil || len(b) == 0 { // empty while it is still in execve: unknown, not the same
		return false
	}
	theirs := map[string]string{}
	for _, kv := range strings.Split(string(b), "\x00") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			theirs[k] = v
		}
	}
	for _, k := range targetEnv {
		if theirs[k] != os.Getenv(k) {
			return false
		}
	}
	return true
}

// siblings lists the other children of this process's parent (every thread's: a Go parent
// forks from any of its threads).
func siblings() []int {
	ppid := os.Getppid()
	if ppid <= 1 {
		return nil // orphaned or the child of init: no one launched us with others
	}
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(ppid) + "/task/*/children")
	var out []int
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, w := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(w); err == nil && pid != os.Getpid() {
				out = append(out, pid)
			}
		}
	}
	return out
}

// restartKey reads a command line (without the program name) and, when it is an explicit
// restart (`restart @s`, `@s restart`, with any flags), returns its session argument.
func restartKey(args []string, global *pflag.FlagSet) (string, bool) {
	var words []string
	takesValue := cmdkit.GlobalFlagTakesValue(global)
	args = cmdkit.RewriteSessionArgs(args, takesValue)
	for i := 0; i < len(args) && len(words) < 2; i++ {
		a := args[i]
		if a == "--" {
			return "", false
		}
		if strings.HasPrefix(a, "-") {
			if _, v := takesValue(a); v {
				i++
			}
			continue
		}
		words = append(words, a)
	}
	if len(words) != 2 || words[0] != "restart" {
		return "", false
	}
	return words[1], true
}
