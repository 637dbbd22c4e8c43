//go:build !linux

package bench

import "time"

// threadCPU reports that CPU time is not measured on this platform.
func threadCPU() (time.Duration, bool) { return 0, false }

// processCPU reports that CPU time is not measured on this platform.
func processCPU() (time.Duration, bool) { return 0, false }
