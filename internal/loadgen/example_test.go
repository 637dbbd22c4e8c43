package loadgen_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

// A run against an http.Handler served by httptest: here a stand-in that
// creates every order, as a test would wrap the real service's handler.
func ExampleRun_handler() {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Location", "/orders/o-1")
		w.WriteHeader(http.StatusCreated)
	})
	srv := httptest.NewServer(handler)
	defer srv.Close()
	base, err := url.Parse(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}

	rep, err := loadgen.Run(context.Background(), loadgen.Options{
		BaseURL: base, Concurrency: 4, Requests: 50, Timeout: 5 * time.Second,
		Mix: loadgen.Mix{loadgen.KindOrder: 1}, Seed: 1,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rep.StopReason, rep.Requests, rep.Count(http.MethodPost, loadgen.RouteOrders, http.StatusCreated))
	// Output: requests 50 50
}

// A run in the background, read while it goes on and stopped at will.
func ExampleStart() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)

	opts := loadgen.DefaultOptions(base) // 100 req/s for 30s
	opts.Mix = loadgen.Mix{loadgen.KindRead: 1}
	g, err := loadgen.Start(context.Background(), opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	for deadline := time.Now().Add(10 * time.Second); g.Snapshot().Requests < 10 && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	rep := g.Stop()
	fmt.Println(rep.StopReason, rep.Requests >= 10, rep.ErrorShare)
	// Output: stopped true 0
}
