package main

import (
	"encoding/json"
	"github.com/ordersvc/ordersvc/internal/testkit"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeService is the little of the API the command itself touches: PUT
// /admin/faults with a bearer token, and business routes that answer 500
// while error_rate is 1 and 2xx otherwise. The engine's behaviour is tested
// in internal/loadgen against a fuller fake.
type fakeService struct {
	*httptest.Server
	token   string
	arrived atomic.Int64 // requests received, admin ones included

	mu        sync.Mutex
	faultPuts []string
	failAll   bool
}

// fakeCounts is what a fakeService counted.
type fakeCounts struct {
	faultPuts []string
}

// newFake starts a fakeService, closed when the test ends.
func newFake(t *testing.T) *fakeService {
	t.Helper()
	f := &fakeService{token: "s3cret-admin-token"}
	f.Server = httptest.NewServer(f)
	t.Cleanup(f.Close)
	return f
}

// counts returns a copy of the counters.
func (f *fakeService) counts() fakeCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fakeCounts{faultPuts: append([]string(nil), f.faultPuts...)}
}

// ServeHTTP implements the routes.
func (f *fakeService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.arrived.Add(1)
	if r.URL.Path == "/admin/faults" && r.Method == http.MethodPut {
		f.putFaults(w, r)
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 64<<10))
	f.mu.Lock()
	fail := f.failAll
	f.mu.Unlock()
	switch {
	case fail:
		w.WriteHeader(http.StatusInternalServerError)
	case r.URL.Path == "/orders" && r.Method == http.MethodPost:
		w.Header().Set("Location", "/orders/o-1")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"id":"o-1"}`)
	case r.Method == http.MethodGet:
		_, _ = io.WriteString(w, `{}`)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

// putFaults records the body of an authorised PUT /admin/faults.
func (f *fakeService) putFaults(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var v struct {
		ErrorRate float64 `json:"error_rate"`
	}
	if err != nil || json.Unmarshal(body, &v) != nil {
		http.Error(w, "bad faults", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.faultPuts = append(f.faultPuts, string(body))
	f.failAll = v.ErrorRate >= 1
	f.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// checkNoLeaks fails the test if, within a few seconds, goroutines of a run
// or of its HTTP client are still alive.
func checkNoLeaks(t *testing.T) {
	t.Helper()
	testkit.NoGoroutinesLeft(t, 5*time.Second, "loadgen.Run(", "loadgen.(*runner)", "net/http.(*persistConn)", "net/http.(*Transport)")
}
