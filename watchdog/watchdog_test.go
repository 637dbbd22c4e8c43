package watchdog_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/sqlite"
	"github.com/ordersvc/ordersvc/watchdog"
)

// reports records what the switch reported.
type reports struct {
	mu        sync.Mutex
	silent    []ordersvc.Heartbeat
	recovered []time.Duration
}

func (r *reports) PipelineSilent(hb ordersvc.Heartbeat, _ time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.silent = append(r.silent, hb)
}

func (r *reports) PipelineRecovered(_ ordersvc.Heartbeat, outage time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recovered = append(r.recovered, outage)
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// TestSwitchOutageAndRecovery: silence is reported once per outage, on two
// switches sharing a store (two replicas), and recovery once.
func TestSwitchOutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	rep := &reports{}
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	replicas := []*watchdog.Switch{
		{Store: db, Reporter: rep, Logger: logger, Timeout: time.Minute, Now: clk.Now},
		{Store: db, Reporter: rep, Logger: logger, Timeout: time.Minute, Now: clk.Now},
	}
	check := func() {
		for _, s := range replicas {
			if _, err := s.Check(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	check() // never received: nothing to miss
	if len(rep.silent) != 0 {
		t.Fatal("silence reported before any heartbeat")
	}
	if err := replicas[0].Beat(ctx, "heartbeat"); err != nil {
		t.Fatal(err)
	}
	clk.add(59 * time.Second)
	check()
	if len(rep.silent) != 0 {
		t.Fatal("silence reported within the timeout")
	}
	clk.add(2 * time.Second)
	check()
	check()
	if len(rep.silent) != 1 || rep.silent[0].Receiver != "heartbeat" {
		t.Fatalf("silence reports %+v, want one (of two replicas checking twice)", rep.silent)
	}
	if !strings.Contains(logs.String(), "alerting pipeline silent") {
		t.Errorf("no error logged: %s", logs.String())
	}
	clk.add(time.Minute)
	if err := replicas[1].Beat(ctx, "heartbeat"); err != nil { // the other replica gets it
		t.Fatal(err)
	}
	if err := replicas[0].Beat(ctx, "heartbeat"); err != nil {
		t.Fatal(err)
	}
	if len(rep.recovered) != 1 || rep.recovered[0] != 2*time.Minute+time.Second {
		t.Fatalf("recoveries %v, want one after 2m1s", rep.recovered)
	}
	clk.add(30 * time.Second)
	check()
	if len(rep.silent) != 1 {
		t.Errorf("a new silence reported %s after recovery", 30*time.Second)
	}
}

// TestSwitchOff: a zero timeout records beats but never claims silence.
func TestSwitchOff(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	clk := &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	rep := &reports{}
	s := &watchdog.Switch{Store: db, Reporter: rep, Now: clk.Now}
	if err := s.Beat(ctx, "heartbeat"); err != nil {
		t.Fatal(err)
	}
	clk.add(24 * time.Hour)
	if claimed, err := s.Check(ctx); err != nil || claimed || len(rep.silent) != 0 {
		t.Errorf("switch off: claimed %v, err %v, reports %d", claimed, err, len(rep.silent))
	}
	if hb, _ := db.Heartbeat(ctx); hb.State() != ordersvc.HeartbeatOK {
		t.Errorf("state %s, want ok: beats are recorded even with the switch off", hb.State())
	}
}
