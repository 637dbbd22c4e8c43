package loadgen

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// feedStats records a known set of outcomes: 10 orders (8 × 201 at 2ms,
// 1 × 409 at 1ms, 1 timeout), 5 reads (4 × 200 at 1ms, 1 × 503 at 4ms) and
// 5 junk (5 × 404 at 500µs).
// The reads are 3 GET /inventory and 2 GET /orders/:id (one 503); the junk
// is 3 GET and 2 BREW.
func feedStats() *stats {
	s := newStats(time.Now())
	order := request{kind: KindOrder, method: "POST", route: RouteOrders}
	for range 8 {
		s.record(order, 201, "", 2*time.Millisecond)
	}
	s.record(order, 409, "", time.Millisecond)
	s.record(order, 0, errTimeout, 0)
	for range 3 {
		s.record(request{kind: KindRead, method: "GET", route: RouteInventory}, 200, "", time.Millisecond)
	}
	s.record(request{kind: KindRead, method: "GET", route: RouteOrder}, 200, "", time.Millisecond)
	s.record(request{kind: KindRead, method: "GET", route: RouteOrder}, 503, "", 4*time.Millisecond)
	for i := range 5 {
		method := map[bool]string{true: "GET", false: "BREW"}[i < 3]
		s.record(request{kind: KindJunk, method: method, route: RouteUnmatched}, 404, "", 500*time.Microsecond)
	}
	s.drop()
	return s
}

func TestStatsReport(t *testing.T) {
	rep := feedStats().report(2 * time.Second)
	within := func(got float64, want time.Duration) bool {
		w := float64(want) / float64(time.Millisecond)
		return math.Abs(got-w) <= w*maxRelErr+1e-9
	}
	tests := []struct {
		name string
		ok   bool
	}{
		{"requests", rep.Requests == 20 && rep.Responses() == 19},
		{"per second", rep.RequestsPerSecond == 10 && rep.OrdersPerSecond == 4},
		{"dropped", rep.Dropped == 1},
		{"error share (5xx + transport, not 4xx)", rep.ErrorShare == 2.0/20},
		{"orders", rep.Kinds.Orders == KindReport{Requests: 10, Status2xx: 8, Status4xx: 1, TransportErrors: 1, Latency: rep.Kinds.Orders.Latency}},
		{"reads", rep.Kinds.Reads == KindReport{Requests: 5, Status2xx: 4, Status5xx: 1, Latency: rep.Kinds.Reads.Latency}},
		{"junk", rep.Kinds.Junk == KindReport{Requests: 5, Status4xx: 5, Latency: rep.Kinds.Junk.Latency}},
		{"status codes", len(rep.StatusCodes) == 5 && rep.StatusCodes[201] == 8 && rep.StatusCodes[409] == 1 &&
			rep.StatusCodes[200] == 4 && rep.StatusCodes[503] == 1 && rep.StatusCodes[404] == 5},
		{"transport errors", len(rep.TransportErrors) == 1 && rep.TransportErrors[errTimeout] == 1},
		{"routes, sorted by route, method, status", reflect.DeepEqual(rep.Routes, []RouteCount{
			{"GET", RouteInventory, 200, 3},
			{"POST", RouteOrders, 0, 1}, {"POST", RouteOrders, 201, 8}, {"POST", RouteOrders, 409, 1},
			{"GET", RouteOrder, 200, 1}, {"GET", RouteOrder, 503, 1},
			{"BREW", RouteUnmatched, 404, 2}, {"GET", RouteUnmatched, 404, 3},
		})},
		{"count lookups", rep.Count("POST", RouteOrders, 201) == 8 && rep.Count("POST", RouteOrders, 0) == 1 &&
			rep.Count("GET", RouteUnmatched, 404) == 3 && rep.Count("GET", RouteOrders, 201) == 0 && rep.Count("PUT", "/x", 200) == 0},
		{"orders latency count", rep.Kinds.Orders.Latency.Count == 9},
		{"orders p50 ≈ 2ms", within(rep.Kinds.Orders.Latency.P50, 2*time.Millisecond)},
		{"orders p90 ≈ 2ms", within(rep.Kinds.Orders.Latency.P90, 2*time.Millisecond)},
		{"orders max = 2ms", rep.Kinds.Orders.Latency.Max == 2},
		{"overall count", rep.Latency.Count == 19},
		{"overall p50 ≈ 1ms", within(rep.Latency.P50, time.Millisecond)},
		{"overall p99 ≈ 4ms", within(rep.Latency.P99, 4*time.Millisecond)},
		{"overall max = 4ms", rep.Latency.Max == 4},
		{"junk p50 ≈ 500µs", within(rep.Kinds.Junk.Latency.P50, 500*time.Microsecond)},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: wrong in %+v", tt.name, rep)
		}
	}

	empty := newStats(time.Now()).report(0)
	if empty.Requests != 0 || empty.ErrorShare != 0 || empty.RequestsPerSecond != 0 || empty.Latency.Count != 0 {
		t.Errorf("empty report: %+v", empty)
	}
}

func TestReportOutput(t *testing.T) {
	rep := feedStats().report(2 * time.Second)
	rep.Target, rep.Mode, rep.TargetRate, rep.Concurrency, rep.Mix, rep.Seed, rep.Trace, rep.StopReason =
		"http://127.0.0.1:8080", "rate", 10, 50, DefaultMix().String(), 42, "unsampled", StopDuration

	var text bytes.Buffer
	if err := rep.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	out := text.String()
	for _, want := range []string{
		"http://127.0.0.1:8080 (rate 10/s, concurrency 50, mix orders=70,reads=25,junk=5, seed 42, traceparent unsampled)",
		"stopped    after 2.00s (duration reached)",
		"requests   20 (10.0/s), dropped 1",
		"4.0/s created (POST /orders answered 2xx: 8)",
		"errors     10.00% (5xx 1, transport 1); 4xx 6 (junk 5)",
		"status codes  200×4  201×8  404×5  409×1  503×1",
		"timeout×1",
		"by route\n",
		"POST /orders                  none×1  201×8  409×1\n",
		"GET /orders/:id               200×1  503×1\n",
		"BREW unmatched                404×2\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	rows := map[string][]string{
		"POST /orders": {"10", "8", "0", "1", "0", "1", "2.00ms", "2.00ms"},
		"reads":        {"5", "4", "0", "0", "1", "0"},
		"junk":         {"5", "0", "0", "5", "0", "0", "500µs"},
		"overall":      {"20", "12", "0", "6", "1", "1"},
	}
	for _, line := range strings.Split(out, "\n") {
		for name, cells := range rows {
			if rest, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
				if got := strings.Fields(rest); len(got) != 10 || strings.Join(got[:len(cells)], " ") != strings.Join(cells, " ") {
					t.Errorf("row %s = %q, want it to start with %q", name, got, cells)
				}
				delete(rows, name)
			}
		}
	}
	if len(rows) != 0 {
		t.Errorf("table rows missing: %v\n%s", rows, out)
	}

	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, js.String())
	}
	if back.Requests != 20 || back.StatusCodes[201] != 8 || back.Kinds.Orders.Latency.P50 != rep.Kinds.Orders.Latency.P50 ||
		back.TransportErrors[errTimeout] != 1 || back.StopReason != StopDuration || !reflect.DeepEqual(back.Routes, rep.Routes) {
		t.Errorf("JSON round trip lost data: %+v", back)
	}
	var generic map[string]any
	_ = json.Unmarshal(js.Bytes(), &generic)
	for _, key := range []string{"kinds", "status_codes", "orders_per_second", "latency", "error_share", "dropped", "routes"} {
		if _, ok := generic[key]; !ok {
			t.Errorf("JSON report lacks %q", key)
		}
	}
}

func TestProgressLine(t *testing.T) {
	p := Progress{
		Elapsed: 3 * time.Second, Requests: 3000, InFlight: 4, Window: 500 * time.Millisecond,
		WindowRequests: 500, WindowErrors: 25, Window4xx: 50, P50: 1200 * time.Microsecond, P99: 8 * time.Millisecond,
	}
	tests := []struct {
		name   string
		p      Progress
		tty    bool
		want   []string
		absent []string
	}{
		{"plain", p, false, []string{"3.0s", "3000 req", "1000.0 req/s", "err   5.0%", "4xx  10.0%", "p50  1.20ms", "p99  8.00ms", "in-flight 4"}, []string{"dropped", "\r"}},
		{"terminal", p, true, []string{"\r", "\x1b[K", "1000.0 req/s"}, []string{"\n"}},
		{"dropped", Progress{Window: time.Second, Dropped: 7}, false, []string{"dropped 7", "p50       -", "err   0.0%"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			pp := newProgressPrinter(&buf, tt.tty)
			pp.Print(tt.p)
			out := buf.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("progress %q lacks %q", out, w)
				}
			}
			for _, a := range tt.absent {
				if strings.Contains(out, a) {
					t.Errorf("progress %q contains %q", out, a)
				}
			}
			if !tt.tty && !strings.HasSuffix(out, "\n") {
				t.Errorf("plain progress %q does not end its line", out)
			}
			pp.Print(tt.p)
			buf.Reset()
			pp.Finish()
			if want := map[bool]string{true: "\n", false: ""}[tt.tty]; buf.String() != want {
				t.Errorf("Finish wrote %q, want %q", buf.String(), want)
			}
		})
	}
	if isTerminal(&bytes.Buffer{}) {
		t.Error("a buffer is not a terminal")
	}
}

func TestFmtDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0µs"},
		{850 * time.Microsecond, "850µs"},
		{1234 * time.Microsecond, "1.23ms"},
		{12345 * time.Microsecond, "12.3ms"},
		{1500 * time.Millisecond, "1.50s"},
		{61 * time.Second, "61.00s"},
	}
	for _, tt := range tests {
		if got := fmtDuration(tt.d); got != tt.want {
			t.Errorf("fmtDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
