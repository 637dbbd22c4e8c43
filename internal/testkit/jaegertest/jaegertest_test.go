package jaegertest

import (
	"context"
	"errors"
	"testing"
)

// TestLookupNotFound starts Jaeger and asks for a trace it cannot hold: the
// answer must be ErrNotFound, which the end-to-end suite relies on to tell
// "not exported" from "the query failed".
func TestLookupNotFound(t *testing.T) {
	j := Start(t)
	_, err := j.Lookup(context.Background(), "0123456789abcdef0123456789abcdef")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lookup of an unknown trace: %v, want ErrNotFound", err)
	}
	t.Logf("unknown trace: %v", err)
	if _, err := j.Lookup(context.Background(), "not-a-trace-id"); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of a malformed id: %v, want an error other than ErrNotFound", err)
	}
}
