package loadgen

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestGeneratorStop starts unlimited runs in the background, reads them
// while they go on, and stops them from two goroutines at once.
func TestGeneratorStop(t *testing.T) {
	tests := []struct {
		name string
		rate float64
	}{
		{"flat out", 0},
		{"rate", 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(f *fakeService) { f.orderDelay = time.Millisecond })
			opts := Options{BaseURL: f.baseURL(t), Rate: tt.rate, Concurrency: 4, Timeout: 5 * time.Second, Mix: DefaultMix(), Seed: 2}
			g, err := Start(context.Background(), opts)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			waitFor(t, 10*time.Second, "30 requests", func() bool { return f.arrived.Load() >= 30 })
			snap := g.Snapshot()
			if snap.StopReason != "" || snap.Requests == 0 || snap.Requests > f.arrived.Load() {
				t.Errorf("snapshot while running: stop %q, %d requests (server got %d)", snap.StopReason, snap.Requests, f.arrived.Load())
			}
			select {
			case <-g.Done():
				t.Fatal("Done closed while an unlimited run goes on")
			default:
			}

			var reps [2]*Report
			var wg sync.WaitGroup
			for i := range reps {
				wg.Go(func() { reps[i] = g.Stop() })
			}
			waitDone := make(chan struct{})
			go func() { wg.Wait(); close(waitDone) }()
			select {
			case <-waitDone:
			case <-time.After(runLimit):
				t.Fatalf("Stop did not return within %v", runLimit)
			}
			rep := reps[0]
			if rep.StopReason != StopStopped || rep.Requests < snap.Requests {
				t.Errorf("after Stop: stop %q, %d requests (snapshot had %d)", rep.StopReason, rep.Requests, snap.Requests)
			}
			if !reflect.DeepEqual(reps[0], reps[1]) || !reflect.DeepEqual(rep, g.Snapshot()) || !reflect.DeepEqual(rep, g.Stop()) {
				t.Error("Stop, a second Stop and Snapshot after the end give different reports")
			}
			rep.StatusCodes[999] = 1 // a caller's copy: the generator's stays as it was
			if g.Wait().StatusCodes[999] != 0 {
				t.Error("reports share their maps")
			}
			checkConsistent(t, g.Wait(), f)
			checkNoLeaks(t)
		})
	}
}

// TestGeneratorEnds checks the stop reasons of runs that end by themselves
// or by their context, seen through Wait and Done.
func TestGeneratorEnds(t *testing.T) {
	tests := []struct {
		name   string
		opts   Options
		cancel bool // cancel the context once requests arrive
		want   string
	}{
		{"request limit", Options{Concurrency: 3, Requests: 40}, false, StopRequests},
		{"duration", Options{Rate: 200, Duration: 100 * time.Millisecond}, false, StopDuration},
		{"context", Options{Concurrency: 3}, true, StopInterrupted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, nil)
			opts := tt.opts
			opts.BaseURL, opts.Timeout, opts.Mix, opts.Seed = f.baseURL(t), 5*time.Second, DefaultMix(), 6
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			g, err := Start(ctx, opts)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if tt.cancel {
				waitFor(t, 10*time.Second, "requests", func() bool { return f.arrived.Load() >= 10 })
				cancel()
			}
			select {
			case <-g.Done():
			case <-time.After(runLimit):
				t.Fatalf("run did not end within %v", runLimit)
			}
			rep := g.Wait()
			if rep.StopReason != tt.want {
				t.Errorf("stop reason %q, want %q", rep.StopReason, tt.want)
			}
			if tt.opts.Requests > 0 && rep.Requests != tt.opts.Requests {
				t.Errorf("%d requests, want %d", rep.Requests, tt.opts.Requests)
			}
			checkConsistent(t, rep, f)
			checkNoLeaks(t)
		})
	}
}

// TestStartInvalid checks that Start starts nothing with invalid options.
func TestStartInvalid(t *testing.T) {
	g, err := Start(context.Background(), Options{Timeout: time.Second, Mix: DefaultMix()})
	if err == nil || g != nil || !strings.Contains(err.Error(), "invalid options: url") {
		t.Fatalf("Start without a URL = %v, %v; want an error about the url", g, err)
	}
}

// TestProgressWriter checks the progress lines written to Options.Progress.
func TestProgressWriter(t *testing.T) {
	f := newFake(t, nil)
	var buf bytes.Buffer // written by the run's progress goroutine only, read after the run
	opts := Options{
		BaseURL: f.baseURL(t), Rate: 500, Duration: 200 * time.Millisecond, Timeout: 5 * time.Second,
		Mix: DefaultMix(), Seed: 1, Progress: &buf, ProgressInterval: 20 * time.Millisecond,
	}
	runFor(t, context.Background(), opts, runLimit)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) < 3 || !strings.HasSuffix(buf.String(), "\n") || strings.Contains(buf.String(), "\r") {
		t.Fatalf("progress output %q: want several appended lines, no carriage returns", buf.String())
	}
	for _, l := range lines {
		if !strings.Contains(l, " req/s ") || !strings.Contains(l, "in-flight") {
			t.Errorf("progress line %q", l)
		}
	}
	checkNoLeaks(t)
}
