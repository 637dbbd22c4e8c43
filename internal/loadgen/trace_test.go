package loadgen

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// traceparentRE is a version-00 traceparent (W3C Trace Context §3.2).
var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$`)

func TestNewTraceparent(t *testing.T) {
	tests := []struct {
		sampled bool
		flags   string
	}{
		{false, "00"},
		{true, "01"},
	}
	for _, tt := range tests {
		seen := map[string]bool{}
		for range 1000 {
			tp := newTraceparent(tt.sampled)
			m := traceparentRE.FindStringSubmatch(tp)
			if m == nil {
				t.Fatalf("newTraceparent(%v) = %q, not a version-00 traceparent", tt.sampled, tp)
			}
			if m[1] == strings.Repeat("0", 32) || m[2] == strings.Repeat("0", 16) {
				t.Fatalf("newTraceparent(%v) = %q: an all-zero id is invalid", tt.sampled, tp)
			}
			if m[3] != tt.flags {
				t.Fatalf("newTraceparent(%v) = %q, want flags %s", tt.sampled, tp, tt.flags)
			}
			if seen[m[1]] {
				t.Fatalf("trace id %s twice in 1000", m[1])
			}
			seen[m[1]] = true
		}
	}
}

// TestRunTraceparent checks the header each request carries in each mode.
func TestRunTraceparent(t *testing.T) {
	tests := []struct {
		mode  TraceMode
		flags string // "" = no header
	}{
		{TraceUnsampled, "00"},
		{TraceSampled, "01"},
		{TraceOff, ""},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			f := newFake(t, nil)
			opts := Options{BaseURL: f.baseURL(t), Concurrency: 2, Requests: 50, Timeout: 5 * time.Second, Mix: DefaultMix(), Seed: 3, Trace: tt.mode}
			rep, _ := runFor(t, context.Background(), opts, runLimit)
			if rep.Trace != tt.mode.String() {
				t.Errorf("report traceparent %q, want %q", rep.Trace, tt.mode)
			}
			got := f.counts().traceparents
			if len(got) != 50 {
				t.Fatalf("server saw %d requests, want 50", len(got))
			}
			ids := map[string]bool{}
			for _, tp := range got {
				if tt.flags == "" {
					if tp != "" {
						t.Fatalf("traceparent %q sent with TraceOff", tp)
					}
					continue
				}
				m := traceparentRE.FindStringSubmatch(tp)
				if m == nil || m[3] != tt.flags {
					t.Fatalf("traceparent %q, want version 00 with flags %s", tp, tt.flags)
				}
				ids[m[1]] = true
			}
			if tt.flags != "" && len(ids) != len(got) {
				t.Errorf("%d distinct trace ids in %d requests", len(ids), len(got))
			}
		})
	}
	if got := TraceMode(9).String(); got != "TraceMode(9)" {
		t.Errorf("TraceMode(9).String() = %q", got)
	}
}
