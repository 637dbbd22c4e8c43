package testkit

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// NoGoroutinesLeft fails the test if, within timeout, goroutines whose
// stacks mention any of markers (function names, e.g. "loadgen.Run(") are
// still alive besides the caller's. Tests using it must not run in
// parallel with others that start such goroutines.
func NoGoroutinesLeft(t testing.TB, timeout time.Duration, markers ...string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for i, g := range strings.Split(string(buf), "\n\n") {
			if i == 0 { // this goroutine
				continue
			}
			for _, m := range markers {
				if strings.Contains(g, m) {
					leaked = append(leaked, g)
					break
				}
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlive the run, first:\n%s", len(leaked), leaked[0])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
