package bench

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/sqlite"
)

// The side-by-side run is a load run, not a test: it runs only when asked.
var (
	floorRun       = flag.Bool("floor", false, "run TestFloorSideBySide (a load run of several minutes)")
	floorScenarios = flag.String("floor.scenarios", strings.Join(Scenarios(), ","), "scenarios of TestFloorSideBySide")
	floorRounds    = flag.Int("floor.rounds", 3, "rounds per side")
	floorDuration  = flag.Duration("floor.duration", 10*time.Second, "length of a round")
	floorConns     = flag.Int("floor.conns", 16, "connections")
	floorProfile   = flag.String("floor.cpuprofile", "", "path prefix for a CPU profile of each service round")
)

// TestFloorSideBySide drives the floor and the service side by side
// (Compare) and logs the table: go test -run TestFloorSideBySide -floor -v.
func TestFloorSideBySide(t *testing.T) {
	if !*floorRun {
		t.Skip("a load run: pass -floor to run it")
	}
	o := DefaultCompareOptions()
	o.Scenarios = strings.Split(*floorScenarios, ",")
	o.Rounds, o.Duration, o.Conns, o.CPUProfile = *floorRounds, *floorDuration, *floorConns, *floorProfile
	o.Progress = testWriter{t}
	results, err := Compare(context.Background(), o)
	var b bytes.Buffer
	_ = WriteTable(&b, results)
	t.Logf("\n%s", b.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		if r.Floor.Failed+r.Service.Failed > 0 {
			t.Errorf("%s: failed requests: floor %d (%s), service %d (%s)", r.Scenario,
				r.Floor.Failed, r.Floor.FirstError, r.Service.Failed, r.Service.FirstError)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestFloor checks that the floor takes an order as the service would
// answer it: 201, a Location, and the order in the body; and that it
// refuses what the store refuses.
func TestFloor(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "floor.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.SeedIfEmpty(ctx, catalog(3)); err != nil {
		t.Fatal(err)
	}
	srv, err := StartFloor(db)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	post := func(body string) (*http.Response, string) {
		resp, err := http.Post(srv.URL()+"/orders", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, body := post(`{"product_id":"p-00001","quantity":2,"type":"online"}`)
	if resp.StatusCode != http.StatusCreated || !strings.HasPrefix(resp.Header.Get("Location"), "/orders/ord_") ||
		!strings.Contains(body, `"amount":2`) {
		t.Fatalf("got %d %q %s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	if resp, body := post(`{"product_id":"nope","quantity":1,"type":"online"}`); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown product: got %d %s", resp.StatusCode, body)
	}
	if resp, body := post(`{"product_id":"p-00001","quantity":0,"type":"online"}`); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("quantity 0: got %d %s", resp.StatusCode, body)
	}
}

// BenchmarkPostOrder serves POST /orders in process (ServeHTTP, no
// network) on the floor and on the service, each on its own SQLite file:
// the per-request CPU and allocations of everything but the sockets, side
// by side. The difference is what the service adds to the floor.
func BenchmarkPostOrder(b *testing.B) {
	body := []byte(`{"product_id":"p-00001","quantity":1,"type":"online","customer_id":"c-42"}`)
	for _, side := range []string{"floor", "ordersvc"} {
		b.Run(side, func(b *testing.B) {
			env := &compareEnv{}
			defer env.close()
			h, err := env.handler(context.Background(), side, catalog(1))
			if err != nil {
				b.Fatal(err)
			}
			req := httptestRequest(body)
			b.ReportAllocs()
			for b.Loop() {
				req.Body.(*resettableBody).Reset(body)
				w := &countingWriter{h: http.Header{}}
				h.ServeHTTP(w, req)
				if w.status != http.StatusCreated {
					b.Fatalf("status %d", w.status)
				}
			}
		})
	}
}

// handler returns the floor's or the service's handler on a fresh SQLite
// file with products.
func (e *compareEnv) handler(ctx context.Context, side string, products []ordersvc.Product) (http.Handler, error) {
	dir, err := e.tempDir()
	if err != nil {
		return nil, err
	}
	if side == "floor" {
		db, err := sqlite.Open(ctx, filepath.Join(dir, "floor.db"), sqlite.Options{})
		if err != nil {
			return nil, err
		}
		e.undo = append(e.undo, db.Close)
		if _, err := db.SeedIfEmpty(ctx, products); err != nil {
			return nil, err
		}
		return FloorHandler(db), nil
	}
	env := map[string]string{"DATABASE_URL": "sqlite://" + filepath.ToSlash(filepath.Join(dir, "service.db")), "LOG_LEVEL": "warn"}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, "floor")
	if err != nil {
		return nil, err
	}
	a, err := app.New(ctx, cfg, app.Options{Registry: prometheus.NewRegistry(), NoSeed: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, err
	}
	e.undo = append(e.undo, a.Close)
	if _, err := a.Store.SeedIfEmpty(ctx, products); err != nil {
		return nil, err
	}
	return a.Handler(), nil
}

// resettableBody is a request body read again from the start each time.
type resettableBody struct{ bytes.Reader }

func (r *resettableBody) Reset(b []byte) { r.Reader.Reset(b) }
func (r *resettableBody) Close() error   { return nil }

func httptestRequest(body []byte) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, "/orders", &resettableBody{})
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = "127.0.0.1:1234"
	return req
}

// countingWriter is a ResponseWriter that keeps the status and drops the body.
type countingWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *countingWriter) Header() http.Header { return w.h }
func (w *countingWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *countingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(p)
	return len(p), nil
}
