package tests

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

// Traffic shape: an open-loop rate low enough that the orders of a whole
// run stay within the demo catalog's stock of the products ordered (an
// out-of-stock 409 is harmless, but the business panels read better with
// real orders), and high enough that every short alert window sees dozens
// of requests. Injected latency does not slow it down, so the faulted
// routes keep their share of the traffic.
const (
	trafficRate = 12 // requests/s
	// trafficConcurrency bounds the requests in flight: 12/s at the 1.5s
	// latency the test injects needs about 18; the rest are dropped and
	// counted, never queued.
	trafficConcurrency = 64
	// maxTrafficRequests and maxTrafficDuration bound the whole run's
	// traffic, whatever happens to the test's timing.
	maxTrafficRequests = 20000
	maxTrafficDuration = 15 * time.Minute
	// requestTimeout is above the largest latency the test injects.
	requestTimeout = 10 * time.Second
)

// trafficProducts are the demo catalog entries with plenty of stock, each
// repeated in proportion to its stock (sku-1 500, sku-3 1000, sku-4 2000)
// so that they run low together, if at all.
var trafficProducts = []string{"sku-1", "sku-3", "sku-3", "sku-4", "sku-4", "sku-4", "sku-4"}

// traffic is internal/loadgen driving a mixed workload against the service
// in the background: POST /orders (a tenth for an unknown product, a 404
// rejection; a tenth keyed, some replayed), GET /inventory, GET
// /reports/summary, GET /orders/:id and a little junk (unmatched routes),
// until stopped or a bound is reached. It counts answers by method, route
// and status.
type traffic struct {
	gen *loadgen.Generator
}

// startTraffic starts the traffic against baseURL; it is stopped when the
// test ends, or earlier by stop.
func startTraffic(t testing.TB, baseURL string) *traffic {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("traffic: service URL: %v", err)
	}
	gen, err := loadgen.Start(context.Background(), loadgen.Options{
		BaseURL:             u,
		Rate:                trafficRate,
		Concurrency:         trafficConcurrency,
		Duration:            maxTrafficDuration,
		Requests:            maxTrafficRequests,
		Timeout:             requestTimeout,
		Mix:                 loadgen.Mix{loadgen.KindOrder: 50, loadgen.KindRead: 45, loadgen.KindJunk: 5},
		IdempotencyShare:    0.1,
		Products:            trafficProducts,
		UnknownProductShare: 0.1,
		Seed:                1,
	})
	if err != nil {
		t.Fatalf("traffic: %v", err)
	}
	tr := &traffic{gen: gen}
	t.Cleanup(tr.stop)
	return tr
}

// stop ends the traffic and waits for the requests in flight (each bounded
// by requestTimeout). Calling it again does nothing.
func (tr *traffic) stop() { tr.gen.Stop() }

// report returns what the traffic got so far (the final report once
// stopped): exact counts by method, route and status in Routes, looked up
// with Count.
func (tr *traffic) report() *loadgen.Report { return tr.gen.Snapshot() }

// summary describes what the traffic saw, one "method route status: n"
// per line, then the totals.
func (tr *traffic) summary() string {
	rep := tr.report()
	var b strings.Builder
	for _, rc := range rep.Routes {
		status := strconv.Itoa(rc.Status)
		if rc.Status == 0 {
			status = "no response"
		}
		fmt.Fprintf(&b, "  %-40s %6d\n", rc.Method+" "+rc.Route+" "+status, rc.Count)
	}
	var transport int64
	for _, n := range rep.TransportErrors {
		transport += n
	}
	fmt.Fprintf(&b, "  %-40s %6d\n  %-40s %6d\n  %-40s %6d", "total", rep.Requests, "transport errors", transport,
		"dropped (concurrency bound)", rep.Dropped)
	return b.String()
}
