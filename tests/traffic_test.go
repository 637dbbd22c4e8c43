package tests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Traffic shape: a few workers, each pausing between requests, so that the
// order volume over the whole run stays below the demo catalog's stock of
// the products ordered (an out-of-stock 409 is harmless, but the business
// panels read better with real orders).
const (
	trafficWorkers = 6
	trafficPause   = 200 * time.Millisecond
	// maxTrafficRequests bounds the whole run's requests, whatever happens
	// to the test's timing.
	maxTrafficRequests = 20000
	// requestTimeout is above the largest latency the test injects.
	requestTimeout = 10 * time.Second
)

// traffic drives a mixed workload against the service in the background:
// POST /orders (with the odd unknown product, a 404 rejection), GET
// /inventory and GET /reports/summary, until stopped or maxTrafficRequests. It counts answers by route and
// status.
type traffic struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	sent   atomic.Int64 // requests started, bounded by maxTrafficRequests
	mu     sync.Mutex
	counts map[string]int // "POST /orders 201" → n
	errs   int
}

// startTraffic starts the workers; stop ends them.
func startTraffic(baseURL string) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel, counts: map[string]int{}}
	client := &http.Client{Timeout: requestTimeout}
	for w := range trafficWorkers {
		tr.wg.Add(1)
		go func() {
			defer tr.wg.Done()
			for i := 0; ctx.Err() == nil && tr.sent.Add(1) <= maxTrafficRequests; i++ {
				tr.once(ctx, client, baseURL, w, i)
				select {
				case <-ctx.Done():
				case <-time.After(trafficPause):
				}
			}
		}()
	}
	return tr
}

// products are the demo catalog entries with plenty of stock.
var products = []string{"sku-1", "sku-3", "sku-4"}

// orderTypes is the closed set of order types.
var orderTypes = []string{"online", "in_store", "phone"}

// once sends the i-th request of worker w.
func (tr *traffic) once(ctx context.Context, client *http.Client, baseURL string, w, i int) {
	var method, path, body string
	// Half the requests are orders: the faulted route whose panics the
	// test looks for in Sentry.
	switch (w + i) % 4 {
	case 0, 1:
		method, path = http.MethodPost, "/orders"
		product := products[(w+i)%len(products)]
		if i%10 == 9 {
			product = "sku-unknown" // 404: counted as a rejection, not an error
		}
		body = fmt.Sprintf(`{"product_id":%q,"quantity":1,"type":%q,"customer_id":"e2e-%d"}`,
			product, orderTypes[i%len(orderTypes)], w)
	case 2:
		method, path = http.MethodGet, "/inventory"
	default:
		method, path = http.MethodGet, "/reports/summary"
	}
	req, err := http.NewRequestWithContext(ctx, method, baseURL+path, strings.NewReader(body))
	if err != nil {
		tr.count("", err)
		return
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	} else {
		req.Body = http.NoBody
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			tr.count("", err)
		}
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	tr.count(fmt.Sprintf("%s %s %d", method, path, resp.StatusCode), nil)
}

// count records one answer (or a transport error).
func (tr *traffic) count(key string, err error) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if err != nil {
		tr.errs++
		return
	}
	tr.counts[key]++
}

// stop ends the workers and waits for them (bounded by requestTimeout,
// since every request is).
func (tr *traffic) stop() {
	tr.cancel()
	tr.wg.Wait()
}

// summary describes what the workers saw, one "route status: n" per line.
func (tr *traffic) summary() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	keys := mapKeys(tr.counts)
	sort.Strings(keys)
	var b bytes.Buffer
	total := 0
	for _, k := range keys {
		fmt.Fprintf(&b, "  %-28s %6d\n", k, tr.counts[k])
		total += tr.counts[k]
	}
	fmt.Fprintf(&b, "  %-28s %6d\n  %-28s %6d", "total", total, "transport errors", tr.errs)
	return b.String()
}
