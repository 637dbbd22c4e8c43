package bench

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPU returns the CPU time the calling OS thread has used, and
// whether the platform can tell. Unlike wall time it does not count the
// time the thread waited for a CPU, which on a shared machine is most of
// the noise.
func threadCPU() (time.Duration, bool) {
	return cpuClock(unix.CLOCK_THREAD_CPUTIME_ID)
}

// processCPU is threadCPU for all the threads of the process.
func processCPU() (time.Duration, bool) {
	return cpuClock(unix.CLOCK_PROCESS_CPUTIME_ID)
}

func cpuClock(id int32) (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(id, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
