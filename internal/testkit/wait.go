package testkit

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// PollInterval is how often WaitFor and Poll check their condition.
const PollInterval = 250 * time.Millisecond

// HTTPClient is the client of test requests: bounded in time.
var HTTPClient = &http.Client{Timeout: 10 * time.Second}

// WaitFor polls cond until it returns true, or fails the test after timeout
// with what and cond's last message. It returns how long it waited.
func WaitFor(t testing.TB, what string, timeout time.Duration, cond func() (bool, string)) time.Duration {
	t.Helper()
	d, err := Poll(timeout, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return d
}

// Poll is WaitFor without the test: it returns the time waited, or an error
// naming cond's last message after timeout.
func Poll(timeout time.Duration, cond func() (bool, string)) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return time.Since(start), fmt.Errorf("not true after %s; last seen: %s", timeout, msg)
		}
		time.Sleep(PollInterval)
	}
}
