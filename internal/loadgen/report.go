package loadgen

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Why a run stopped: the values of Report.StopReason.
const (
	StopDuration    = "duration"    // Options.Duration elapsed
	StopRequests    = "requests"    // Options.Requests sent
	StopInterrupted = "interrupted" // the run's context ended (SIGINT in cmd/loadgen)
	StopStopped     = "stopped"     // Generator.Stop was called
)

// Report is the result of a run. Its JSON form (WriteJSON) is what
// cmd/loadgen -json prints; its text form (WriteText, String) is for people.
type Report struct {
	Target         string  `json:"target"`
	Mode           string  `json:"mode"`                  // "rate" or "flat-out"
	TargetRate     float64 `json:"target_rate,omitempty"` // requests/s, rate mode
	Concurrency    int     `json:"concurrency"`           // workers, or max in flight
	Mix            string  `json:"mix"`
	Seed           uint64  `json:"seed"`
	Trace          string  `json:"traceparent"` // TraceMode: unsampled, sampled or off
	StopReason     string  `json:"stop_reason"`
	ElapsedSeconds float64 `json:"elapsed_seconds"`

	Requests          int64   `json:"requests"` // completed: answered or failed
	RequestsPerSecond float64 `json:"requests_per_second"`
	// OrdersPerSecond counts POST /orders answered 2xx.
	OrdersPerSecond float64 `json:"orders_per_second"`
	// Dropped counts requests that were due while Options.Concurrency
	// were in flight and so were not sent (rate mode).
	Dropped int64 `json:"dropped"`
	// ErrorShare is (5xx + transport errors) / requests.
	ErrorShare float64 `json:"error_share"`

	Kinds           Kinds            `json:"kinds"`
	StatusCodes     map[int]int64    `json:"status_codes"`
	TransportErrors map[string]int64 `json:"transport_errors"`
	// Routes counts every request by method, route and status, exactly:
	// their counts add up to Requests. Sorted by route, method, status.
	Routes []RouteCount `json:"routes"`
	// Latency is over all responses; Kinds.Orders.Latency is POST /orders.
	Latency Latency `json:"latency"`
}

// RouteCount is how many requests with one method to one route got one
// status. To compare with the service's http_requests_total{method,
// endpoint, status_code}: Route is its endpoint label, and the service
// labels a non-standard Method (BREW, PROPFIND) as OTHER. Status 0 counts
// requests that got no response (transport errors); the service may or may
// not have counted those, with whatever status it meant to send.
type RouteCount struct {
	Method string `json:"method"` // as sent
	Route  string `json:"route"`  // a Route constant
	Status int    `json:"status"` // HTTP status code; 0 = no response
	Count  int64  `json:"count"`
}

// Count returns how many requests with method to route got status (0 for
// no response), from Routes.
func (r *Report) Count(method, route string, status int) int64 {
	for _, rc := range r.Routes {
		if rc.Method == method && rc.Route == route && rc.Status == status {
			return rc.Count
		}
	}
	return 0
}

// Kinds breaks a report down by request kind.
type Kinds struct {
	Orders KindReport `json:"orders"`
	Reads  KindReport `json:"reads"`
	Junk   KindReport `json:"junk"`
}

// byKind returns the report of kind k.
func (ks *Kinds) byKind(k Kind) *KindReport {
	switch k {
	case KindOrder:
		return &ks.Orders
	case KindRead:
		return &ks.Reads
	default:
		return &ks.Junk
	}
}

// KindReport is the outcome of the requests of one kind.
type KindReport struct {
	Requests        int64   `json:"requests"`
	Status2xx       int64   `json:"status_2xx"`
	Status3xx       int64   `json:"status_3xx"`
	Status4xx       int64   `json:"status_4xx"`
	Status5xx       int64   `json:"status_5xx"`
	TransportErrors int64   `json:"transport_errors"`
	Latency         Latency `json:"latency"`
}

// Latency summarises a latency histogram, in milliseconds.
type Latency struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
}

// summarize returns the Latency of h.
func summarize(h *Histogram) Latency {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return Latency{
		Count: h.Count(),
		P50:   ms(h.Quantile(0.50)),
		P90:   ms(h.Quantile(0.90)),
		P99:   ms(h.Quantile(0.99)),
		Max:   ms(h.Max()),
	}
}

// report builds the final report from s; the caller fills in the run's
// settings. elapsed is the wall time of the run, drain included.
func (s *stats) report(elapsed time.Duration) *Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &Report{
		ElapsedSeconds:  elapsed.Seconds(),
		Dropped:         s.dropped,
		StatusCodes:     maps.Clone(s.codes),
		TransportErrors: maps.Clone(s.transport),
		Routes:          make([]RouteCount, 0, len(s.routes)),
	}
	for k, n := range s.routes {
		r.Routes = append(r.Routes, RouteCount{Method: k.method, Route: k.route, Status: k.status, Count: n})
	}
	slices.SortFunc(r.Routes, func(a, b RouteCount) int {
		return cmp.Or(strings.Compare(a.Route, b.Route), strings.Compare(a.Method, b.Method), cmp.Compare(a.Status, b.Status))
	})
	var all Histogram
	var errs int64
	for k := range numKinds {
		ks := &s.kinds[k]
		kr := r.Kinds.byKind(k)
		*kr = KindReport{
			Requests:        ks.requests,
			Status2xx:       ks.classes[2],
			Status3xx:       ks.classes[3],
			Status4xx:       ks.classes[4],
			Status5xx:       ks.classes[5],
			TransportErrors: ks.classes[0],
			Latency:         summarize(&ks.latencies),
		}
		r.Requests += ks.requests
		errs += ks.classes[0] + ks.classes[5]
		all.Merge(&ks.latencies)
	}
	r.Latency = summarize(&all)
	if r.Requests > 0 {
		r.ErrorShare = float64(errs) / float64(r.Requests)
	}
	if secs := elapsed.Seconds(); secs > 0 {
		r.RequestsPerSecond = float64(r.Requests) / secs
		r.OrdersPerSecond = float64(r.Kinds.Orders.Status2xx) / secs
	}
	return r
}

// clone returns a deep copy of r, so that callers sharing a final report
// cannot change each other's.
func (r *Report) clone() *Report {
	c := *r
	c.StatusCodes = maps.Clone(r.StatusCodes)
	c.TransportErrors = maps.Clone(r.TransportErrors)
	c.Routes = slices.Clone(r.Routes)
	return &c
}

// Responses returns how many requests got an HTTP answer.
func (r *Report) Responses() int64 {
	return r.Requests - r.Kinds.Orders.TransportErrors - r.Kinds.Reads.TransportErrors - r.Kinds.Junk.TransportErrors
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write JSON report: %w", err)
	}
	return nil
}

// String returns the text form of r, as WriteText writes it.
func (r *Report) String() string {
	var b strings.Builder
	_ = r.WriteText(&b) // a strings.Builder never fails
	return b.String()
}

// WriteText writes r for people: a summary, a table by kind with status
// classes and latency percentiles, the status codes and transport errors.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	mode := "flat out"
	if r.Mode == "rate" {
		mode = fmt.Sprintf("rate %g/s", r.TargetRate)
	}
	fmt.Fprintf(&b, "target     %s (%s, concurrency %d, mix %s, seed %d, traceparent %s)\n", r.Target, mode, r.Concurrency, r.Mix, r.Seed, r.Trace)
	why := map[string]string{
		StopDuration: "duration reached", StopRequests: "request count reached",
		StopInterrupted: "interrupted", StopStopped: "stopped", "": "still running",
	}[r.StopReason]
	fmt.Fprintf(&b, "stopped    after %.2fs (%s)\n", r.ElapsedSeconds, why)
	fmt.Fprintf(&b, "requests   %d (%.1f/s), dropped %d\n", r.Requests, r.RequestsPerSecond, r.Dropped)
	fmt.Fprintf(&b, "orders     %.1f/s created (POST /orders answered 2xx: %d)\n", r.OrdersPerSecond, r.Kinds.Orders.Status2xx)
	var s4, s5, te int64
	for k := range numKinds {
		kr := r.Kinds.byKind(k)
		s4, s5, te = s4+kr.Status4xx, s5+kr.Status5xx, te+kr.TransportErrors
	}
	fmt.Fprintf(&b, "errors     %.2f%% (5xx %d, transport %d); 4xx %d (junk %d)\n\n", 100*r.ErrorShare, s5, te, s4, r.Kinds.Junk.Status4xx)

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// Names are padded to one width so that right alignment leaves them
	// left-aligned.
	fmt.Fprintf(tw, "%-12s\trequests\t2xx\t3xx\t4xx\t5xx\terrors\tp50\tp90\tp99\tmax\t\n", "kind")
	row := func(name string, kr KindReport) {
		fmt.Fprintf(tw, "%-12s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", name, kr.Requests, kr.Status2xx, kr.Status3xx,
			kr.Status4xx, kr.Status5xx, kr.TransportErrors, latencyCells(kr.Latency))
	}
	row("POST /orders", r.Kinds.Orders)
	row("reads", r.Kinds.Reads)
	row("junk", r.Kinds.Junk)
	total := KindReport{Requests: r.Requests, Status4xx: s4, Status5xx: s5, TransportErrors: te, Latency: r.Latency}
	for k := range numKinds {
		kr := r.Kinds.byKind(k)
		total.Status2xx += kr.Status2xx
		total.Status3xx += kr.Status3xx
	}
	row("overall", total)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("format report table: %w", err)
	}

	b.WriteString("\nstatus codes")
	for _, code := range slices.Sorted(maps.Keys(r.StatusCodes)) {
		fmt.Fprintf(&b, "  %d×%d", code, r.StatusCodes[code])
	}
	if len(r.StatusCodes) == 0 {
		b.WriteString("  none")
	}
	if len(r.TransportErrors) > 0 {
		b.WriteString("\ntransport   ")
		for _, cause := range slices.Sorted(maps.Keys(r.TransportErrors)) {
			fmt.Fprintf(&b, "  %s×%d", cause, r.TransportErrors[cause])
		}
	}
	b.WriteString("\n")
	writeRoutes(&b, r.Routes)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// writeRoutes appends the exact counts by route: one line per method and
// route, "status×count" in status order, "none×count" for no response.
func writeRoutes(b *strings.Builder, routes []RouteCount) {
	if len(routes) == 0 {
		return
	}
	b.WriteString("\nby route\n")
	for i, rc := range routes {
		if i == 0 || rc.Route != routes[i-1].Route || rc.Method != routes[i-1].Method {
			if i > 0 {
				b.WriteString("\n")
			}
			fmt.Fprintf(b, "  %-28s", rc.Method+" "+rc.Route)
		}
		if rc.Status == 0 {
			fmt.Fprintf(b, "  none×%d", rc.Count)
		} else {
			fmt.Fprintf(b, "  %d×%d", rc.Status, rc.Count)
		}
	}
	b.WriteString("\n")
}

// latencyCells formats the latency columns of the report table.
func latencyCells(l Latency) string {
	if l.Count == 0 {
		return "-\t-\t-\t-\t"
	}
	ms := func(v float64) string { return fmtDuration(time.Duration(v * float64(time.Millisecond))) }
	return ms(l.P50) + "\t" + ms(l.P90) + "\t" + ms(l.P99) + "\t" + ms(l.Max) + "\t"
}

// fmtDuration formats a latency with 3 significant digits: 850µs, 1.23ms,
// 12.3ms, 1.50s.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}
