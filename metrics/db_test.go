package metrics

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakePinger fails with err, or blocks until the context ends when block
// is set; it records the deadline it was given.
type fakePinger struct {
	err      error
	block    bool
	deadline time.Duration
}

func (p *fakePinger) Ping(ctx context.Context) error {
	if d, ok := ctx.Deadline(); ok {
		p.deadline = time.Until(d)
	}
	if p.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return p.err
}

func TestDBUp(t *testing.T) {
	for _, tc := range []struct {
		name   string
		pinger *fakePinger
		want   string
	}{
		{"answers", &fakePinger{}, "1"},
		{"fails", &fakePinger{err: errors.New("the database file was removed")}, "0"},
		{"too slow", &fakePinger{block: true}, "0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewPedanticRegistry()
			const timeout = 50 * time.Millisecond
			if err := RegisterDBUp(reg, tc.pinger, timeout); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			want := "# HELP db_up 1 when the store answers a query at scrape time (within a short timeout), else 0.\n# TYPE db_up gauge\ndb_up " + tc.want + "\n"
			if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "db_up"); err != nil {
				t.Error(err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("scrape took %s with a %s timeout", took, timeout)
			}
			if tc.pinger.deadline <= 0 || tc.pinger.deadline > timeout {
				t.Errorf("Ping got a deadline %s away, want within %s", tc.pinger.deadline, timeout)
			}
		})
	}
}

func TestRegisterDBUpTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if err := RegisterDBUp(reg, &fakePinger{}, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := RegisterDBUp(reg, &fakePinger{}, time.Second); err == nil {
		t.Error("a second db_up collector registered")
	}
}
