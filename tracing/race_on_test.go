//go:build race

package tracing

// raceEnabled: the race detector changes allocation counts, so the
// allocation assertions are off under it.
const raceEnabled = true
