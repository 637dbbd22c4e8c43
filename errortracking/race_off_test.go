//go:build !race

package errortracking_test

const raceEnabled = false
