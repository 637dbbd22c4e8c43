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

// SetFileSizeLimit sets RLIMIT_FSIZE (soft and hard) of the running process
// pid: a write that would take a file past limit bytes then fails with
// EFBIG, as on a full disk. A Go program survives it: its runtime catches
// SIGXFSZ and ignores it. Raising the limit again needs CAP_SYS_RESOURCE
// (root). Unlimited lifts the limit.
func SetFileSizeLimit(pid int, limit uint64) error {
	lim := syscall.Rlimit{Cur: limit, Max: limit}
	if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), syscall.RLIMIT_FSIZE,
		uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("prlimit(%d, RLIMIT_FSIZE, %d): %w", pid, limit, errno)
	}
	return nil
}
