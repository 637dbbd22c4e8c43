//go:build race

package metrics

// raceEnabled: under the race detector sync.Pool drops items at random, so
// gin's context pool misses and allocation counts mean nothing; the
// allocation assertions run in the plain test run only.
const raceEnabled = true
