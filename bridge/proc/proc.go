// Package proc answers "is this the process we started?" from /proc: a PID is alive only when
// its start time matches the one recorded at spawn and it is not a zombie. kill(pid, 0) alone
// takes zombies and reused PIDs for live processes.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
)

// ErrNoProcess: no process has that PID.
var ErrNoProcess = errors.New("no such process")

// Stat is what liveness needs from /proc/<pid>/stat.
type Stat struct {
	PID       int
	State     byte   // R, S, D, Z, T, …
	StartTime uint64 // clock ticks after boot: with the PID, a process's identity
	PGID      int
}

// ReadStat parses /proc/<pid>/stat. The command name (field 2) may contain spaces and
// parentheses, so fields are counted from the last ')'.
func ReadStat(pid int) (Stat, error) {
	if pid <= 0 {
		return Stat{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Stat{}, fmt.Errorf("pid %d: %w", pid, ErrNoProcess)
		}
		return Stat{}, err
	}
	return parseStat(pid, b)
}

func parseStat(pid int, b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return Stat{}, fmt.Errorf("pid %d: malformed stat", pid)
	}
	// Fields after the command: 3 state, 4 ppid, 5 pgrp, … 22 starttime.
	f := bytes.Fields(b[i+2:])
	if len(f) < 20 {
		return Stat{}, fmt.Errorf("pid %d: malformed stat: %d fields", pid, len(f))
	}
	st := Stat{PID: pid, State: f[0][0]}
	st.PGID, _ = strconv.Atoi(string(f[2]))
	start, err := strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return Stat{}, fmt.Errorf("pid %d: start time: %w", pid, err)
	}
	st.StartTime = start
	return st, nil
}

// StartTime returns the start time of a live (non-zombie) process.
func StartTime(pid int) (uint64, error) {
	st, err := ReadStat(pid)
	if err != nil {
		return 0, err
	}
	if st.State == 'Z' || st.State == 'X' {
		return 0, fmt.Errorf("pid %d is a zombie: %w", pid, ErrNoProcess)
	}
	return st.StartTime, nil
}

// Alive reports whether pid is the process that started at startTime and is not a zombie.
// A startTime of 0 means "unknown" and is never alive: liveness is never taken on PID alone.
func Alive(pid int, startTime uint64) bool {
	if startTime == 0 {
		return false
	}
	st, err := StartTime(pid)
	return err == nil && st == startTime
}
