package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ordersvc/ordersvc/internal/testkit"
	"io"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeService is a real HTTP server on 127.0.0.1 with the routes loadgen
// uses, checking requests the way SPEC §3 does and counting what it gets.
type fakeService struct {
	*httptest.Server
	token      string        // admin token; PUT /admin/faults needs it
	orderDelay time.Duration // added to every POST /orders
	hold       chan struct{} // if set, requests wait until it is closed or the client leaves
	arrived    atomic.Int64  // requests received, admin ones included

	mu sync.Mutex
	c  fakeCounts
	// state
	ids       map[string]bool
	keys      map[string]fakeKeyed
	errorRate float64 // share of business requests answered 500
	business  int     // business requests seen, for a deterministic fault share
}

// fakeCounts is what a fakeService counted.
type fakeCounts struct {
	postOrders, created, replays, keyed int
	invalidOrders, keyMismatch          int // loadgen bugs: must stay 0
	getOrders, getOrderMissing          int
	unknownProduct                      int            // orders for UnknownProduct, answered 404
	products                            map[string]int // product id → orders created
	inventory, summary, junk            int
	faulted                             int // business requests answered 500
	faultPuts                           []string
	junkMethods                         map[string]int
	// answered counts the answers by method, route template (as the
	// service would label it) and status: what http_requests_total holds.
	answered map[routeKey]int64
	// traceparents are the traceparent headers received, "" for none.
	traceparents []string
}

type fakeKeyed struct {
	body []byte
	id   string
}

// newFake starts a fakeService, closed when the test ends.
func newFake(t *testing.T, setup func(*fakeService)) *fakeService {
	t.Helper()
	f := &fakeService{
		token: "s3cret",
		ids:   map[string]bool{},
		keys:  map[string]fakeKeyed{},
		c:     fakeCounts{junkMethods: map[string]int{}, answered: map[routeKey]int64{}, products: map[string]int{}},
	}
	if setup != nil {
		setup(f)
	}
	f.Server = httptest.NewServer(f)
	t.Cleanup(func() {
		if f.hold != nil {
			select {
			case <-f.hold:
			default:
				close(f.hold)
			}
		}
		f.Close()
	})
	return f
}

// baseURL returns the server's URL parsed.
func (f *fakeService) baseURL(t *testing.T) *url.URL {
	t.Helper()
	u, err := url.Parse(f.URL)
	if err != nil {
		t.Fatalf("parse fake URL: %v", err)
	}
	return u
}

// counts returns a copy of the counters.
func (f *fakeService) counts() fakeCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.c
	c.faultPuts = append([]string(nil), f.c.faultPuts...)
	c.junkMethods = make(map[string]int, len(f.c.junkMethods))
	for k, v := range f.c.junkMethods {
		c.junkMethods[k] = v
	}
	c.answered = maps.Clone(f.c.answered)
	c.products = maps.Clone(f.c.products)
	c.traceparents = slices.Clone(f.c.traceparents)
	return c
}

var orderPath = regexp.MustCompile(`^/orders/([^/]+)$`)

// statusRecorder remembers the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int // 0 until WriteHeader
}

func (sr *statusRecorder) WriteHeader(code int) {
	sr.status = code
	sr.ResponseWriter.WriteHeader(code)
}

// ServeHTTP counts the answer by route and status, as the service's
// metrics middleware does, and serves the request.
func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	sr := &statusRecorder{ResponseWriter: w}
	route := f.serve(sr, r)
	if route == "" {
		return // the admin API
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.c.traceparents = append(f.c.traceparents, r.Header.Get("Traceparent"))
	if sr.status != 0 {
		f.c.answered[routeKey{r.Method, route, sr.status}]++
	}
}

// serve implements the routes and returns the route template it served
// (RouteUnmatched for none), or "" for the admin API.
func (f *fakeService) serve(w http.ResponseWriter, r *http.Request) string {
	f.arrived.Add(1)
	if f.hold != nil {
		select {
		case <-f.hold:
		case <-r.Context().Done():
			return ""
		}
	}
	p := r.URL.Path
	if p == "/admin/faults" && r.Method == http.MethodPut {
		f.putFaults(w, r)
		return ""
	}
	var route *int
	template := RouteUnmatched
	switch {
	case p == "/orders" && r.Method == http.MethodPost:
		route, template = &f.c.postOrders, RouteOrders
	case orderPath.MatchString(p) && r.Method == http.MethodGet:
		route, template = &f.c.getOrders, RouteOrder
	case p == "/inventory" && r.Method == http.MethodGet:
		route, template = &f.c.inventory, RouteInventory
	case p == "/reports/summary" && r.Method == http.MethodGet:
		route, template = &f.c.summary, RouteSummary
	}
	f.mu.Lock()
	if route == nil {
		f.c.junk++
		f.c.junkMethods[r.Method]++
		f.mu.Unlock()
		status := http.StatusNotFound
		if p == "/orders" || p == "/inventory" || p == "/reports/summary" {
			status = http.StatusMethodNotAllowed
		}
		problem(w, status, "no such route")
		return template
	}
	*route++
	f.business++
	n := float64(f.business)
	fail := math.Floor(n*f.errorRate) > math.Floor((n-1)*f.errorRate)
	if fail {
		f.c.faulted++
	}
	f.mu.Unlock()
	if fail {
		problem(w, http.StatusInternalServerError, "injected fault")
		return template
	}
	switch {
	case p == "/orders":
		f.postOrder(w, r)
	case strings.HasPrefix(p, "/orders/"):
		id := orderPath.FindStringSubmatch(p)[1]
		f.mu.Lock()
		ok := f.ids[id]
		if !ok {
			f.c.getOrderMissing++
		}
		f.mu.Unlock()
		if !ok {
			problem(w, http.StatusNotFound, "no such order")
			return template
		}
		writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": "created"})
	case p == "/inventory":
		writeJSON(w, http.StatusOK, []map[string]any{{"product_id": "sku-1", "name": "Widget", "unit_price": 3.5, "stock": 100}})
	default:
		writeJSON(w, http.StatusOK, map[string]any{"order_count": 1})
	}
	return template
}

var customerID = regexp.MustCompile(`^c-[1-9][0-9]*$`)

// postOrder implements POST /orders with its validation and idempotency.
func (f *fakeService) postOrder(w http.ResponseWriter, r *http.Request) {
	if f.orderDelay > 0 {
		select {
		case <-time.After(f.orderDelay):
		case <-r.Context().Done():
			return
		}
	}
	invalid := func(status int, detail string) {
		f.mu.Lock()
		f.c.invalidOrders++
		f.mu.Unlock()
		problem(w, status, detail)
	}
	if r.Header.Get("Content-Type") != "application/json" {
		invalid(http.StatusUnsupportedMediaType, "want application/json")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		invalid(http.StatusBadRequest, "read body")
		return
	}
	var o orderBody
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		invalid(http.StatusBadRequest, err.Error())
		return
	}
	if o.ProductID == UnknownProduct {
		f.mu.Lock()
		f.c.unknownProduct++
		f.mu.Unlock()
		problem(w, http.StatusNotFound, "unknown product")
		return
	}
	validProduct := false
	for i := 1; i <= 5; i++ {
		validProduct = validProduct || o.ProductID == fmt.Sprintf("sku-%d", i)
	}
	validType := o.Type == "online" || o.Type == "in_store" || o.Type == "phone"
	if !validProduct || o.Quantity < 1 || o.Quantity > 3 || !validType || !customerID.MatchString(o.CustomerID) {
		invalid(http.StatusUnprocessableEntity, fmt.Sprintf("bad order %+v", o))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	f.mu.Lock()
	defer f.mu.Unlock()
	if key != "" {
		f.c.keyed++
		if prev, ok := f.keys[key]; ok {
			if !bytes.Equal(prev.body, body) {
				f.c.keyMismatch++
				problem(w, http.StatusUnprocessableEntity, "key reused with another body")
				return
			}
			f.c.replays++
			w.Header().Set("Location", "/orders/"+prev.id)
			writeJSON(w, http.StatusCreated, map[string]any{"id": prev.id})
			return
		}
	}
	f.c.created++
	f.c.products[o.ProductID]++
	id := fmt.Sprintf("o-%d", f.c.created)
	f.ids[id] = true
	if key != "" {
		f.keys[key] = fakeKeyed{body: body, id: id}
	}
	w.Header().Set("Location", "/orders/"+id)
	writeJSON(w, http.StatusCreated, map[string]any{"id": id, "product_id": o.ProductID, "status": "created"})
}

// putFaults implements PUT /admin/faults: bearer auth, a JSON object.
func (f *fakeService) putFaults(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		problem(w, http.StatusUnauthorized, "bad token")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var v struct {
		ErrorRate float64 `json:"error_rate"`
	}
	if err != nil || json.Unmarshal(body, &v) != nil {
		problem(w, http.StatusBadRequest, "bad faults")
		return
	}
	f.mu.Lock()
	f.c.faultPuts = append(f.c.faultPuts, string(body))
	f.errorRate = v.ErrorRate
	f.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func problem(w http.ResponseWriter, status int, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"title": http.StatusText(status), "status": status, "detail": detail})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// waitFor polls cond every 5ms until it holds or the deadline passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leakMarkers are stack frames of goroutines a finished run must not leave.
var leakMarkers = []string{
	"loadgen.Run(", "loadgen.(*runner)", "loadgen.(*source)",
	"net/http.(*persistConn)", "net/http.(*Transport)",
}

// checkNoLeaks fails the test if, within a few seconds, goroutines of a run
// or of its HTTP client are still alive. Tests using it do not run in
// parallel.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	testkit.NoGoroutinesLeft(t, 5*time.Second, leakMarkers...)
}

// runFor calls Run and fails the test if it does not return within limit.
func runFor(t *testing.T, ctx context.Context, opts Options, limit time.Duration) (*Report, time.Duration) {
	t.Helper()
	type result struct {
		rep *Report
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		rep, err := Run(ctx, opts)
		done <- result{rep, err}
	}()
	select {
	case res := <-done:
		if res.err != nil {
			t.Fatalf("Run: %v", res.err)
		}
		return res.rep, time.Since(start)
	case <-time.After(limit):
		t.Fatalf("Run did not return within %v", limit)
		return nil, 0
	}
}
