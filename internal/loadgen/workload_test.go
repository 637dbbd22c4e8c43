package loadgen

import (
	"context"
	"encoding/json"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// runLimit bounds every test run; runs are sized to take well under a second.
const runLimit = 20 * time.Second

// checkConsistent asserts what must hold for any run against a fake that
// injects no faults and answers in time: loadgen's counts agree with what
// the server received, every request was well formed, and the numbers of
// the report add up.
func checkConsistent(t *testing.T, rep *Report, f *fakeService) {
	t.Helper()
	c := f.counts()
	if got := int64(c.postOrders); rep.Kinds.Orders.Requests != got {
		t.Errorf("orders: report %d, server received %d", rep.Kinds.Orders.Requests, got)
	}
	if got := int64(c.getOrders + c.inventory + c.summary); rep.Kinds.Reads.Requests != got {
		t.Errorf("reads: report %d, server received %d", rep.Kinds.Reads.Requests, got)
	}
	if got := int64(c.junk); rep.Kinds.Junk.Requests != got {
		t.Errorf("junk: report %d, server received %d", rep.Kinds.Junk.Requests, got)
	}
	if sum := rep.Kinds.Orders.Requests + rep.Kinds.Reads.Requests + rep.Kinds.Junk.Requests; sum != rep.Requests {
		t.Errorf("kinds add up to %d, requests %d", sum, rep.Requests)
	}
	if got := f.arrived.Load() - int64(len(c.faultPuts)); got != rep.Requests {
		t.Errorf("server received %d requests, report says %d", got, rep.Requests)
	}
	if c.invalidOrders != 0 || c.keyMismatch != 0 || c.getOrderMissing != 0 {
		t.Errorf("malformed traffic: %d invalid orders, %d key reuses with another body, %d reads of unknown orders",
			c.invalidOrders, c.keyMismatch, c.getOrderMissing)
	}
	if want := int64(c.created + c.replays); rep.Kinds.Orders.Status2xx != want {
		t.Errorf("orders 2xx: report %d, server answered %d created + %d replays", rep.Kinds.Orders.Status2xx, c.created, c.replays)
	}
	if rep.Kinds.Junk.Status4xx != rep.Kinds.Junk.Requests {
		t.Errorf("junk: %d of %d answered 4xx", rep.Kinds.Junk.Status4xx, rep.Kinds.Junk.Requests)
	}
	if len(rep.TransportErrors) != 0 || rep.ErrorShare != 0 {
		t.Errorf("transport errors %v, error share %g; want none", rep.TransportErrors, rep.ErrorShare)
	}
	var codes int64
	for _, n := range rep.StatusCodes {
		codes += n
	}
	if codes != rep.Responses() || rep.Responses() != rep.Requests {
		t.Errorf("status codes add up to %d, responses %d, requests %d", codes, rep.Responses(), rep.Requests)
	}
	// Exactly what the service counted, by method, route and status.
	var routed int64
	for _, rc := range rep.Routes {
		routed += rc.Count
		if got := c.answered[routeKey{rc.Method, rc.Route, rc.Status}]; got != rc.Count {
			t.Errorf("%s %s %d: report %d, server answered %d", rc.Method, rc.Route, rc.Status, rc.Count, got)
		}
	}
	if routed != rep.Requests || len(rep.Routes) != len(c.answered) {
		t.Errorf("routes add up to %d in %d entries; requests %d, server answered %d combinations",
			routed, len(rep.Routes), rep.Requests, len(c.answered))
	}
	if rep.Latency.Count != uint64(rep.Requests) {
		t.Errorf("latency count %d, requests %d", rep.Latency.Count, rep.Requests)
	}
	for name, l := range map[string]Latency{"overall": rep.Latency, "orders": rep.Kinds.Orders.Latency} {
		if l.Count > 0 && !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("%s latency not ordered: %+v", name, l)
		}
	}
	if rep.ElapsedSeconds <= 0 {
		t.Fatalf("elapsed %g", rep.ElapsedSeconds)
	}
	if want := float64(rep.Kinds.Orders.Status2xx) / rep.ElapsedSeconds; math.Abs(rep.OrdersPerSecond-want) > 1e-9*want {
		t.Errorf("orders/s %g, want %g", rep.OrdersPerSecond, want)
	}
	if want := float64(rep.Requests) / rep.ElapsedSeconds; math.Abs(rep.RequestsPerSecond-want) > 1e-9*want {
		t.Errorf("requests/s %g, want %g", rep.RequestsPerSecond, want)
	}
}

func TestRunAgainstServer(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		check func(t *testing.T, rep *Report, c fakeCounts, took time.Duration)
	}{
		{
			name: "flat out, request limit, default mix",
			opts: Options{Rate: 0, Concurrency: 4, Requests: 300, Mix: DefaultMix(), IdempotencyShare: 0.5},
			check: func(t *testing.T, rep *Report, c fakeCounts, _ time.Duration) {
				if rep.Requests != 300 || rep.StopReason != StopRequests || rep.Mode != "flat-out" {
					t.Errorf("requests %d, stop %q, mode %q; want 300, requests, flat-out", rep.Requests, rep.StopReason, rep.Mode)
				}
				// 70% of 300: ±20 points is over 7 standard deviations.
				if share := float64(rep.Kinds.Orders.Requests) / 300; share < 0.5 || share > 0.9 {
					t.Errorf("orders share %.2f, want about 0.7", share)
				}
				if rep.Kinds.Junk.Requests == 0 || rep.Kinds.Reads.Requests == 0 {
					t.Errorf("no reads or no junk: %+v", rep.Kinds)
				}
				if c.keyed == 0 || c.replays == 0 || c.getOrders == 0 {
					t.Errorf("keyed %d, replays %d, order reads %d; want each > 0", c.keyed, c.replays, c.getOrders)
				}
			},
		},
		{
			name: "rate, request limit",
			opts: Options{Rate: 2000, Requests: 200, Mix: DefaultMix()},
			check: func(t *testing.T, rep *Report, _ fakeCounts, _ time.Duration) {
				if rep.Requests != 200 || rep.StopReason != StopRequests || rep.Mode != "rate" || rep.TargetRate != 2000 {
					t.Errorf("requests %d, stop %q, mode %q rate %g", rep.Requests, rep.StopReason, rep.Mode, rep.TargetRate)
				}
				if rep.Concurrency != 10_000 { // auto: 2000/s × 5s, capped
					t.Errorf("concurrency %d, want 10000", rep.Concurrency)
				}
				if rep.Dropped != 0 {
					t.Errorf("dropped %d with 10000 slots", rep.Dropped)
				}
			},
		},
		{
			name: "flat out, duration",
			opts: Options{Concurrency: 2, Duration: 200 * time.Millisecond, Mix: DefaultMix()},
			check: func(t *testing.T, rep *Report, _ fakeCounts, took time.Duration) {
				if rep.Requests == 0 || rep.StopReason != StopDuration {
					t.Errorf("requests %d, stop %q; want > 0, duration", rep.Requests, rep.StopReason)
				}
				if took < 200*time.Millisecond {
					t.Errorf("returned after %v, before the duration", took)
				}
			},
		},
		{
			name: "rate, duration: never more than the schedule",
			opts: Options{Rate: 100, Duration: 300 * time.Millisecond, Mix: DefaultMix()},
			check: func(t *testing.T, rep *Report, _ fakeCounts, _ time.Duration) {
				// Due times 0, 10ms, ... < 300ms: at most 30 requests.
				if rep.Requests == 0 || rep.Requests > 30 || rep.StopReason != StopDuration {
					t.Errorf("requests %d, stop %q; want 1..30, duration", rep.Requests, rep.StopReason)
				}
			},
		},
		{
			name: "orders only",
			opts: Options{Concurrency: 3, Requests: 90, Mix: Mix{KindOrder: 1}},
			check: func(t *testing.T, rep *Report, c fakeCounts, _ time.Duration) {
				if rep.Kinds.Orders.Requests != 90 || rep.Kinds.Reads.Requests+rep.Kinds.Junk.Requests != 0 {
					t.Errorf("kinds %+v; want 90 orders only", rep.Kinds)
				}
				if c.keyed != 0 {
					t.Errorf("%d keyed orders with idempotency share 0", c.keyed)
				}
			},
		},
		{
			name: "junk only",
			opts: Options{Concurrency: 3, Requests: 60, Mix: Mix{KindJunk: 1}},
			check: func(t *testing.T, rep *Report, c fakeCounts, _ time.Duration) {
				if rep.Kinds.Junk.Requests != 60 || rep.Kinds.Junk.Status4xx != 60 || rep.ErrorShare != 0 {
					t.Errorf("junk %+v, error share %g; want 60 × 4xx, no errors", rep.Kinds.Junk, rep.ErrorShare)
				}
				if rep.StatusCodes[404] == 0 || rep.StatusCodes[405] == 0 {
					t.Errorf("status codes %v; want both unknown paths (404) and odd methods (405)", rep.StatusCodes)
				}
				if c.junkMethods["BREW"]+c.junkMethods["PROPFIND"] == 0 {
					t.Errorf("junk methods %v; want non-standard ones too", c.junkMethods)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, nil)
			opts := tt.opts
			opts.BaseURL = f.baseURL(t)
			opts.Timeout = 5 * time.Second
			opts.Seed = 42
			rep, took := runFor(t, context.Background(), opts, runLimit)
			checkConsistent(t, rep, f)
			tt.check(t, rep, f.counts(), took)
			checkNoLeaks(t)
		})
	}
}

// TestRunIsOpenLoop holds every response until all requests have arrived:
// a closed loop would wait for answers and never send them all.
func TestRunIsOpenLoop(t *testing.T) {
	f := newFake(t, func(f *fakeService) { f.hold = make(chan struct{}) })
	opts := Options{BaseURL: f.baseURL(t), Rate: 1000, Concurrency: 50, Requests: 20, Timeout: 10 * time.Second, Mix: DefaultMix(), Seed: 1}
	var rep *Report
	done := make(chan struct{})
	go func() {
		defer close(done)
		rep, _ = runFor(t, context.Background(), opts, runLimit)
	}()
	waitFor(t, 10*time.Second, "20 requests to arrive unanswered", func() bool { return f.arrived.Load() == 20 })
	close(f.hold)
	<-done
	if rep == nil {
		t.FailNow() // runFor reported why
	}
	if rep.Requests != 20 || rep.Dropped != 0 {
		t.Errorf("requests %d, dropped %d; want 20, 0", rep.Requests, rep.Dropped)
	}
	checkConsistent(t, rep, f)
	checkNoLeaks(t)
}

// TestRunDropsAndTimeouts fills every slot with requests that never get an
// answer: later due requests must be dropped, the stuck ones time out, and
// the run still ends in bounded time.
func TestRunDropsAndTimeouts(t *testing.T) {
	f := newFake(t, func(f *fakeService) { f.hold = make(chan struct{}) })
	opts := Options{
		BaseURL: f.baseURL(t), Rate: 500, Concurrency: 5, Duration: 200 * time.Millisecond,
		Timeout: 300 * time.Millisecond, Mix: DefaultMix(), Seed: 1,
	}
	rep, took := runFor(t, context.Background(), opts, runLimit)
	if rep.Requests != 5 || f.arrived.Load() != 5 {
		t.Errorf("sent %d, server got %d; want 5 (the concurrency)", rep.Requests, f.arrived.Load())
	}
	if rep.TransportErrors[errTimeout] != 5 || rep.ErrorShare != 1 || rep.Responses() != 0 {
		t.Errorf("transport errors %v, error share %g, responses %d; want 5 timeouts", rep.TransportErrors, rep.ErrorShare, rep.Responses())
	}
	if rep.Dropped == 0 {
		t.Error("nothing dropped while every slot was taken")
	}
	if rep.Latency.Count != 0 {
		t.Errorf("latency recorded for failed requests: %+v", rep.Latency)
	}
	if took > 5*time.Second {
		t.Errorf("took %v; want about duration + timeout", took)
	}
	checkNoLeaks(t)
}

// TestRunInterrupt cancels an unlimited run, as SIGINT does: it must stop
// promptly, and requests in flight must be finished, not counted as errors.
func TestRunInterrupt(t *testing.T) {
	tests := []struct {
		name string
		rate float64
	}{
		{"flat out", 0},
		{"rate", 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(f *fakeService) { f.orderDelay = 2 * time.Millisecond })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				for f.arrived.Load() < 50 && ctx.Err() == nil {
					time.Sleep(time.Millisecond)
				}
				cancel()
			}()
			opts := Options{BaseURL: f.baseURL(t), Rate: tt.rate, Concurrency: 8, Timeout: 5 * time.Second, Mix: DefaultMix(), Seed: 3}
			rep, _ := runFor(t, ctx, opts, runLimit)
			if rep.StopReason != StopInterrupted || rep.Requests < 50 {
				t.Errorf("stop %q after %d requests; want interrupted after ≥ 50", rep.StopReason, rep.Requests)
			}
			checkConsistent(t, rep, f)
			checkNoLeaks(t)
		})
	}
}

// TestRunLatencyAndErrors checks that latencies are the server's and that
// 5xx are errors while 4xx are not.
func TestRunLatencyAndErrors(t *testing.T) {
	const delay = 5 * time.Millisecond
	f := newFake(t, func(f *fakeService) {
		f.orderDelay = delay
		f.errorRate = 0.25
	})
	opts := Options{BaseURL: f.baseURL(t), Concurrency: 2, Requests: 120, Timeout: 5 * time.Second, Mix: Mix{1, 1, 1}, Seed: 5}
	rep, _ := runFor(t, context.Background(), opts, runLimit)
	c := f.counts()
	s5 := rep.Kinds.Orders.Status5xx + rep.Kinds.Reads.Status5xx + rep.Kinds.Junk.Status5xx
	if s5 != int64(c.faulted) || s5 == 0 || rep.Kinds.Junk.Status5xx != 0 {
		t.Errorf("5xx: report %d (junk %d), server faulted %d", s5, rep.Kinds.Junk.Status5xx, c.faulted)
	}
	if want := float64(s5) / float64(rep.Requests); rep.ErrorShare != want {
		t.Errorf("error share %g, want 5xx/requests = %g (4xx excluded)", rep.ErrorShare, want)
	}
	if rep.StatusCodes[500] != s5 {
		t.Errorf("status 500 count %d, want %d", rep.StatusCodes[500], s5)
	}
	// Only successful orders wait; at least half the orders did.
	if p50 := time.Duration(rep.Kinds.Orders.Latency.P50 * float64(time.Millisecond)); p50 < delay {
		t.Errorf("POST /orders p50 %v, below the server's %v delay", p50, delay)
	}
	if got := time.Duration(rep.Latency.Max * float64(time.Millisecond)); got < delay {
		t.Errorf("overall max %v, below %v", got, delay)
	}
	checkNoLeaks(t)
}

// TestRunRefused runs against a port nobody listens on.
func TestRunRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	ln.Close()
	opts := Options{BaseURL: &url.URL{Scheme: "http", Host: addr}, Concurrency: 2, Requests: 10, Timeout: 2 * time.Second, Mix: DefaultMix(), Seed: 1}
	rep, _ := runFor(t, context.Background(), opts, runLimit)
	if rep.Requests != 10 || rep.TransportErrors[errRefused] != 10 || rep.Responses() != 0 || rep.ErrorShare != 1 {
		t.Errorf("requests %d, transport errors %v, responses %d, error share %g; want 10 refused",
			rep.Requests, rep.TransportErrors, rep.Responses(), rep.ErrorShare)
	}
	checkNoLeaks(t)
}

// TestRunProgress checks that progress snapshots come while the run lasts,
// count monotonically, and stop before Run returns.
func TestRunProgress(t *testing.T) {
	f := newFake(t, nil)
	var (
		mu    sync.Mutex
		snaps []Progress
		ended bool
		late  bool
	)
	opts := Options{
		BaseURL: f.baseURL(t), Rate: 500, Duration: 300 * time.Millisecond, Timeout: 5 * time.Second, Mix: DefaultMix(), Seed: 9,
		ProgressInterval: 20 * time.Millisecond,
		OnProgress: func(p Progress) {
			mu.Lock()
			defer mu.Unlock()
			late = late || ended
			snaps = append(snaps, p)
		},
	}
	rep, _ := runFor(t, context.Background(), opts, runLimit)
	mu.Lock()
	ended = true
	mu.Unlock()
	time.Sleep(50 * time.Millisecond) // a ticker left running would fire by now
	mu.Lock()
	defer mu.Unlock()
	if late {
		t.Error("OnProgress called after Run returned")
	}
	if len(snaps) == 0 {
		t.Fatal("no progress in 300ms at a 20ms interval")
	}
	var windowSum, prev int64
	for i, p := range snaps {
		windowSum += p.WindowRequests
		if p.Requests < prev || p.Requests > rep.Requests || p.Window <= 0 {
			t.Errorf("snapshot %d: %+v (previous total %d, final %d)", i, p, prev, rep.Requests)
		}
		prev = p.Requests
	}
	if windowSum != prev {
		t.Errorf("windows add up to %d, last total %d", windowSum, prev)
	}
	checkNoLeaks(t)
}

func TestGenerator(t *testing.T) {
	tests := []struct {
		name      string
		mix       Mix
		idemShare float64
	}{
		{"default", DefaultMix(), 0.1},
		{"orders keyed", Mix{KindOrder: 1}, 1},
		{"reads", Mix{KindRead: 1}, 0},
		{"junk", Mix{KindJunk: 1}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 4000
			mem := newMemory()
			mem.addID("o-1") // as if an order had been created
			g := newSource(0, &Options{Seed: 7, Mix: tt.mix, IdempotencyShare: tt.idemShare, Products: demoProducts()}, mem)
			var kinds [numKinds]int
			keyed, replays := 0, 0
			seen := map[string][]byte{}
			for range n {
				r := g.next()
				kinds[r.kind]++
				switch r.kind {
				case KindOrder:
					checkOrderRequest(t, r)
					if r.idemKey != "" {
						keyed++
						if prev, ok := seen[r.idemKey]; ok {
							replays++
							if string(prev) != string(r.body) {
								t.Fatalf("replay of %s with another body", r.idemKey)
							}
						}
						seen[r.idemKey] = r.body
					}
				case KindRead:
					if r.method != http.MethodGet || r.body != nil ||
						(r.path != "/inventory" && r.path != "/reports/summary" && r.path != "/orders/o-1") {
						t.Fatalf("bad read %s %s", r.method, r.path)
					}
				case KindJunk:
					odd := (r.path == "/orders" || r.path == "/inventory" || r.path == "/reports/summary") && r.method != http.MethodGet && r.method != http.MethodPost
					if !strings.HasPrefix(r.path, "/nope/") && !odd {
						t.Fatalf("junk %s %s could hit a real route", r.method, r.path)
					}
				}
			}
			for k, w := range tt.mix {
				want := float64(w) / float64(tt.mix.total())
				if got := float64(kinds[k]) / n; math.Abs(got-want) > 0.05 {
					t.Errorf("%v share %.3f, want %.3f", Kind(k), got, want)
				}
			}
			if orders := kinds[KindOrder]; orders > 0 {
				if got := float64(keyed) / float64(orders); math.Abs(got-tt.idemShare) > 0.05 {
					t.Errorf("keyed share %.3f, want %.3f", got, tt.idemShare)
				}
				if tt.idemShare == 1 {
					if got := float64(replays) / float64(keyed); math.Abs(got-replayShare) > 0.05 {
						t.Errorf("replay share %.3f, want %.3f", got, replayShare)
					}
				}
			}

			// The same seed gives the same sequence, whatever the memory holds.
			opts := &Options{Seed: 11, Mix: tt.mix, IdempotencyShare: tt.idemShare, Products: demoProducts()}
			a := newSource(3, opts, newMemory())
			bMem := newMemory()
			bMem.addID("o-9")
			b := newSource(3, opts, bMem)
			for i := range 200 {
				ra, rb := a.next(), b.next()
				if ra.kind != rb.kind || ra.method != rb.method || (ra.kind == KindJunk && ra.path != rb.path) {
					t.Fatalf("request %d differs: %s %s vs %s %s", i, ra.method, ra.path, rb.method, rb.path)
				}
			}
		})
	}
}

// checkOrderRequest asserts that r is a valid POST /orders (SPEC §3.1).
func checkOrderRequest(t *testing.T, r request) {
	t.Helper()
	if r.method != http.MethodPost || r.path != "/orders" {
		t.Fatalf("order sent as %s %s", r.method, r.path)
	}
	var o map[string]any
	if err := json.Unmarshal(r.body, &o); err != nil {
		t.Fatalf("order body %s: %v", r.body, err)
	}
	q, _ := o["quantity"].(float64)
	typ, _ := o["type"].(string)
	pid, _ := o["product_id"].(string)
	cid, _ := o["customer_id"].(string)
	if len(o) != 4 || q < 1 || q > 3 || q != math.Trunc(q) || !strings.HasPrefix(pid, "sku-") || len(pid) != 5 ||
		pid[4] < '1' || pid[4] > '5' || !customerID.MatchString(cid) || (typ != "online" && typ != "in_store" && typ != "phone") {
		t.Fatalf("bad order body %s", r.body)
	}
	if len(r.idemKey) > 255 {
		t.Fatalf("Idempotency-Key of %d chars", len(r.idemKey))
	}
}

func TestExtractOrderID(t *testing.T) {
	tests := []struct {
		name, location, body, want string
	}{
		{"relative location", "/orders/o-17", "", "o-17"},
		{"absolute location", "http://127.0.0.1:8080/orders/01J0ABC", `{"id":"other"}`, "01J0ABC"},
		{"location with prefix", "/api/orders/42", "", "42"},
		{"body string id", "", `{"id":"o-3","status":"created"}`, "o-3"},
		{"body numeric id", "", `{"id":12345}`, "12345"},
		{"bad location, body id", "/elsewhere", `{"id":"o-4"}`, "o-4"},
		{"nested location path", "/orders/a/b", "", ""},
		{"empty location id", "/orders/", "", ""},
		{"no id anywhere", "", `{"status":"created"}`, ""},
		{"null id", "", `{"id":null}`, ""},
		{"object id", "", `{"id":{"x":1}}`, ""},
		{"id with slash", "", `{"id":"a/b"}`, ""},
		{"too long", "", `{"id":"` + strings.Repeat("x", maxIDLen+1) + `"}`, ""},
		{"not JSON", "", `<html>`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := extractOrderID(tt.location, []byte(tt.body)); got != tt.want {
				t.Errorf("extractOrderID(%q, %q) = %q, want %q", tt.location, tt.body, got, tt.want)
			}
		})
	}
}

func TestOptionsValidate(t *testing.T) {
	base := func() Options {
		u, _ := url.Parse("http://127.0.0.1:1")
		return Options{BaseURL: u, Rate: 10, Timeout: time.Second, Mix: DefaultMix()}
	}
	tests := []struct {
		name   string
		change func(*Options)
		errSub string // "" = valid
	}{
		{"valid", func(*Options) {}, ""},
		{"no URL", func(o *Options) { o.BaseURL = nil }, "no target"},
		{"ftp", func(o *Options) { o.BaseURL = &url.URL{Scheme: "ftp", Host: "x"} }, "scheme"},
		{"negative rate", func(o *Options) { o.Rate = -1 }, "rate"},
		{"NaN rate", func(o *Options) { o.Rate = math.NaN() }, "rate"},
		{"huge concurrency", func(o *Options) { o.Concurrency = maxConcurrency + 1 }, "concurrency"},
		{"negative duration", func(o *Options) { o.Duration = -time.Second }, "duration"},
		{"negative requests", func(o *Options) { o.Requests = -1 }, "request"},
		{"no timeout", func(o *Options) { o.Timeout = 0 }, "timeout"},
		{"empty mix", func(o *Options) { o.Mix = Mix{} }, "mix"},
		{"negative weight", func(o *Options) { o.Mix = Mix{5, -1, 0} }, "weight"},
		{"share above 1", func(o *Options) { o.IdempotencyShare = 1.5 }, "idempotency"},
		{"share NaN", func(o *Options) { o.IdempotencyShare = math.NaN() }, "idempotency"},
		{"unknown trace mode", func(o *Options) { o.Trace = numTraceModes }, "trace mode"},
		{"products", func(o *Options) { o.Products = []string{"sku-1", "sku-2"} }, ""},
		{"empty product id", func(o *Options) { o.Products = []string{"sku-1", ""} }, "products"},
		{"long product id", func(o *Options) { o.Products = []string{strings.Repeat("x", 256)} }, "products"},
		{"too many products", func(o *Options) { o.Products = make([]string, maxProducts+1) }, "products"},
		{"unknown share above 1", func(o *Options) { o.UnknownProductShare = 1.01 }, "unknown product"},
		{"unknown share NaN", func(o *Options) { o.UnknownProductShare = math.NaN() }, "unknown product"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base()
			tt.change(&o)
			err := o.Validate()
			if tt.errSub == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("validate = %v, want an error about %q", err, tt.errSub)
			}
			if _, err := Run(context.Background(), o); err == nil {
				t.Fatal("Run accepted invalid options")
			}
		})
	}
}

func TestConcurrencyAuto(t *testing.T) {
	tests := []struct {
		rate    float64
		conc    int
		timeout time.Duration
		want    int
	}{
		{0, 0, time.Second, flatOutConcurrency},
		{0, 7, time.Second, 7},
		{100, 0, 5 * time.Second, 500},
		{0.1, 0, time.Second, 1},
		{1e6, 0, time.Minute, maxConcurrency},
		{100, 3, 5 * time.Second, 3},
	}
	for _, tt := range tests {
		o := Options{Rate: tt.rate, Concurrency: tt.conc, Timeout: tt.timeout}
		if got := o.EffectiveConcurrency(); got != tt.want {
			t.Errorf("rate %g concurrency %d timeout %v: got %d, want %d", tt.rate, tt.conc, tt.timeout, got, tt.want)
		}
	}
}

// TestRunProducts checks Options.Products and Options.UnknownProductShare:
// orders are for the products given (the demo catalog by default), and the
// share asked for is for UnknownProduct, answered 404 and not an error.
func TestRunProducts(t *testing.T) {
	tests := []struct {
		name     string
		products []string
		unknown  float64
		want     []string // products orders may be created for
	}{
		{"default catalog", nil, 0, demoProducts()},
		{"one product", []string{"sku-3"}, 0, []string{"sku-3"}},
		{"a share unknown", []string{"sku-1", "sku-4"}, 0.3, []string{"sku-1", "sku-4"}},
		{"all unknown", nil, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const n = 300
			f := newFake(t, nil)
			products := slices.Clone(tt.products)
			opts := Options{
				BaseURL: f.baseURL(t), Concurrency: 4, Requests: n, Timeout: 5 * time.Second, Mix: Mix{KindOrder: 1},
				Seed: 8, Products: products, UnknownProductShare: tt.unknown,
			}
			rep, _ := runFor(t, context.Background(), opts, runLimit)
			checkConsistent(t, rep, f)
			c := f.counts()
			for id := range c.products {
				if !slices.Contains(tt.want, id) {
					t.Errorf("order created for %q, want only %v", id, tt.want)
				}
			}
			if len(tt.want) > 1 && len(c.products) != len(tt.want) {
				t.Errorf("orders for %v, want every one of %v", c.products, tt.want)
			}
			// ±0.12 is over 4 standard deviations of a share of 300.
			if share := float64(c.unknownProduct) / n; math.Abs(share-tt.unknown) > 0.12 {
				t.Errorf("unknown product share %.2f, want about %.2f", share, tt.unknown)
			}
			if got := rep.Count(http.MethodPost, RouteOrders, http.StatusNotFound); got != int64(c.unknownProduct) || rep.ErrorShare != 0 {
				t.Errorf("report: %d × 404, error share %g; server rejected %d unknown, want them as 4xx, not errors",
					got, rep.ErrorShare, c.unknownProduct)
			}
		})
	}
}
