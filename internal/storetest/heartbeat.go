package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

var heartbeatTests = []test{
	{"NeverThenOK", testHeartbeatNeverThenOK},
	{"SilenceClaimedOnce", testSilenceClaimedOnce},
	{"RecoveryRecordedOnce", testRecoveryRecordedOnce},
	{"ClockLagDoesNotMoveBack", testHeartbeatClockLag},
}

var beatStart = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// testHeartbeatNeverThenOK: before any heartbeat nothing can be silent;
// after one the state is ok and carries the receiver.
func testHeartbeatNeverThenOK(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	hb, err := s.Heartbeat(ctx)
	mustf(t, err, "read")
	if hb.State() != ordersvc.HeartbeatNever || hb.Outages != 0 {
		t.Fatalf("fresh store: %+v (state %s), want never", hb, hb.State())
	}
	if _, claimed, err := s.ClaimSilence(ctx, beatStart.Add(24*time.Hour), time.Minute); err != nil || claimed {
		t.Errorf("silence claimed before any heartbeat (err %v)", err)
	}
	beat, err := s.RecordHeartbeat(ctx, "heartbeat", beatStart)
	mustf(t, err, "record")
	if beat.Recovered || beat.Heartbeat.State() != ordersvc.HeartbeatOK || !beat.Heartbeat.LastReceivedAt.Equal(beatStart) ||
		beat.Heartbeat.Receiver != "heartbeat" {
		t.Errorf("first heartbeat: %+v", beat)
	}
	if _, claimed, _ := s.ClaimSilence(ctx, beatStart.Add(59*time.Second), time.Minute); claimed {
		t.Error("silence claimed within the timeout")
	}
}

// testSilenceClaimedOnce: past the timeout exactly one of many concurrent
// claimers opens the outage (one Sentry report, however many replicas).
func testSilenceClaimedOnce(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	_, err := s.RecordHeartbeat(ctx, "heartbeat", beatStart)
	mustf(t, err, "record")
	now := beatStart.Add(2 * time.Minute)
	var claims atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, claimed, err := s.ClaimSilence(ctx, now, time.Minute)
			if err != nil {
				t.Errorf("claim: %v", err)
			}
			if claimed {
				claims.Add(1)
			}
		}()
	}
	wg.Wait()
	if n := claims.Load(); n != 1 {
		t.Fatalf("%d claims of one outage, want 1", n)
	}
	hb, err := s.Heartbeat(ctx)
	mustf(t, err, "read")
	if hb.State() != ordersvc.HeartbeatSilent || hb.Outages != 1 || hb.SilentSince == nil || !hb.SilentSince.Equal(now) {
		t.Errorf("after the claim: %+v (state %s)", hb, hb.State())
	}
	if _, claimed, _ := s.ClaimSilence(ctx, now.Add(time.Hour), time.Minute); claimed {
		t.Error("an open outage was claimed again")
	}
}

// testRecoveryRecordedOnce: the first heartbeat after an outage closes it,
// with the outage's length; concurrent heartbeats record one recovery.
func testRecoveryRecordedOnce(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	_, err := s.RecordHeartbeat(ctx, "heartbeat", beatStart)
	mustf(t, err, "record")
	_, claimed, err := s.ClaimSilence(ctx, beatStart.Add(2*time.Minute), time.Minute)
	mustf(t, err, "claim")
	if !claimed {
		t.Fatal("silence not claimed")
	}
	back := beatStart.Add(10 * time.Minute)
	var recoveries atomic.Int32
	var outage atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			beat, err := s.RecordHeartbeat(ctx, "heartbeat", back.Add(time.Duration(i)*time.Millisecond))
			if err != nil {
				t.Errorf("record: %v", err)
				return
			}
			if beat.Recovered {
				recoveries.Add(1)
				outage.Store(int64(beat.Outage))
			}
		}()
	}
	wg.Wait()
	if n := recoveries.Load(); n != 1 {
		t.Fatalf("%d recoveries of one outage, want 1", n)
	}
	if d := time.Duration(outage.Load()); d < 10*time.Minute || d > 10*time.Minute+time.Second {
		t.Errorf("outage lasted %s, want about 10m (from the last heartbeat before it)", d)
	}
	hb, err := s.Heartbeat(ctx)
	mustf(t, err, "read")
	if hb.State() != ordersvc.HeartbeatOK || hb.Outages != 1 || hb.LastRecoveredAt == nil {
		t.Errorf("after recovery: %+v (state %s)", hb, hb.State())
	}
}

// testHeartbeatClockLag: a replica whose clock lags cannot move the last
// heartbeat back (which could make the switch fire early).
func testHeartbeatClockLag(t *testing.T, open Opener) {
	s := openDefault(t, open)
	ctx := ctxFor(t)
	_, err := s.RecordHeartbeat(ctx, "a", beatStart.Add(time.Minute))
	mustf(t, err, "record")
	beat, err := s.RecordHeartbeat(ctx, "b", beatStart)
	mustf(t, err, "record late")
	if !beat.Heartbeat.LastReceivedAt.Equal(beatStart.Add(time.Minute)) {
		t.Errorf("last heartbeat moved back to %s", beat.Heartbeat.LastReceivedAt)
	}
}
