//go:build !unix

package bench

import "time"

// processCPUTime is not available here: CPU per order is not reported.
func processCPUTime() (time.Duration, bool) { return 0, false }
