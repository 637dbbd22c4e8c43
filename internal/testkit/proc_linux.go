package testkit

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// RSS returns the resident set size of process pid in bytes, from
// /proc/<pid>/status (VmRSS).
func RSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("read the RSS of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS %q of pid %d: %w", v, pid, err)
		}
		return kb << 10, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("read the RSS of pid %d: %w", pid, err)
	}
	return 0, fmt.Errorf("pid %d: no VmRSS in /proc/%d/status", pid, pid)
}

// Unlimited is the "no limit" value of SetFileSizeLimit.
const Unlimited = ^uint64(0)

// SetFileSizeLimit sets the soft RLIMIT_FSIZE of the running process pid
// (capped at its hard limit, which it leaves alone, so that lifting the
// limit again needs no privilege): a write that would take a file past
// limit bytes then fails with EFBIG, as on a full disk. A Go program
// survives it: its runtime catches SIGXFSZ and ignores it. Unlimited lifts
// the limit up to the hard limit.
func SetFileSizeLimit(pid int, limit uint64) error {
	var lim syscall.Rlimit
	if err := prlimit(pid, nil, &lim); err != nil {
		return fmt.Errorf("read RLIMIT_FSIZE of pid %d: %w", pid, err)
	}
	lim.Cur = min(limit, lim.Max)
	if err := prlimit(pid, &lim, nil); err != nil {
		return fmt.Errorf("set RLIMIT_FSIZE of pid %d to %d: %w", pid, limit, err)
	}
	return nil
}

// prlimit is prlimit(2) for RLIMIT_FSIZE (the syscall package has no
// wrapper for another process).
func prlimit(pid int, set, old *syscall.Rlimit) error {
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE,
		uintptr(unsafe.Pointer(set)), uintptr(unsafe.Pointer(old)), 0, 0); errno != 0 {
		return errno
	}
	return nil
}
