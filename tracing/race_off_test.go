//go:build !race

package tracing

// raceEnabled: see race_on_test.go.
const raceEnabled = false
