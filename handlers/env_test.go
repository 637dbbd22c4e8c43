package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking"
	"github.com/ordersvc/ordersvc/faults"
	"github.com/ordersvc/ordersvc/handlers"
	"github.com/ordersvc/ordersvc/metrics"
	"github.com/ordersvc/ordersvc/sqlite"
)

const (
	adminToken   = "test-admin-token"
	webhookToken = "test-webhook-token"
)

// env is a real service in memory: a SQLite file in a temp dir, a fresh
// registry, the production router, driven through httptest.
type env struct {
	t      *testing.T
	dbPath string
	db     *sqlite.DB
	m      *metrics.Metrics
	router *gin.Engine
	faults *faults.Injector
	deps   handlers.Deps
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return openEnv(t, filepath.Join(t.TempDir(), "ordersvc.db"), true)
}

func openEnv(t *testing.T, dbPath string, seed bool) *env {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, reg, metrics.BuildInfo{Version: "test", Revision: "abc", GoVersion: "go"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlite.Open(context.Background(), dbPath, sqlite.Options{Observer: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if seed {
		if _, err := db.SeedIfEmpty(context.Background(), ordersvc.DemoCatalog()); err != nil {
			t.Fatal(err)
		}
	}
	if err := metrics.RegisterInventory(reg, db); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tracker, err := errortracking.New(errortracking.Options{Logger: logger, Panics: m})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dbPath: dbPath, db: db, m: m, faults: &faults.Injector{}}
	e.deps = handlers.Deps{
		Orders: db, Inventory: db, Reports: db, Alerts: db, DB: db, Metrics: m, Tracker: tracker,
		Faults: e.faults, Logger: logger, AdminToken: adminToken, WebhookToken: webhookToken,
	}
	e.router = handlers.NewRouter(e.deps)
	return e
}

// do sends a request; headers are name, value pairs. A JSON content type is
// set for bodies unless a Content-Type header is given.
func (e *env) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.router.ServeHTTP(w, req)
	return w
}

func (e *env) admin(method, path, body string) *httptest.ResponseRecorder {
	return e.do(method, path, body, "Authorization", "Bearer "+adminToken)
}

// metric returns one series' value; key is "name|label=value|…" with the
// labels in alphabetical order. A missing series is -1.
func (e *env) metric(key string) float64 {
	e.t.Helper()
	all, err := e.m.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	if v, ok := all[key]; ok {
		return v
	}
	return -1
}

func (e *env) metrics() map[string]float64 {
	e.t.Helper()
	all, err := e.m.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	return all
}

func (e *env) stock(id string) int64 {
	e.t.Helper()
	products, err := e.db.Products(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	for _, p := range products {
		if p.ID == id {
			return p.Stock
		}
	}
	return -1
}

func (e *env) summary() ordersvc.Summary {
	e.t.Helper()
	s, err := e.db.Summary(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// problemOf checks that w is a problem+json with the given status and
// returns it.
func problemOf(t *testing.T, w *httptest.ResponseRecorder, status int) map[string]any {
	t.Helper()
	if w.Code != status {
		t.Fatalf("status = %d, want %d; body %s", w.Code, status, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q, want application/problem+json", ct)
	}
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, w.Body)
	}
	for _, k := range []string{"type", "title", "status", "detail"} {
		if _, ok := p[k]; !ok {
			t.Errorf("problem lacks %q: %s", k, w.Body)
		}
	}
	if int(p["status"].(float64)) != status {
		t.Errorf("problem status = %v, want %d", p["status"], status)
	}
	return p
}

func decode[T any](t *testing.T, w *httptest.ResponseRecorder) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(w.Body.Bytes(), &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, w.Body)
	}
	return v
}

var _ = http.StatusOK

func newEnvWithAdmin(t *testing.T, token string) *env {
	t.Helper()
	e := newEnv(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	reg := prometheus.NewRegistry()
	m, err := metrics.New(reg, reg, metrics.BuildInfo{})
	if err != nil {
		t.Fatal(err)
	}
	tracker, _ := errortracking.New(errortracking.Options{Logger: logger, Panics: m})
	e.m = m
	e.router = handlers.NewRouter(handlers.Deps{
		Orders: e.db, Inventory: e.db, Reports: e.db, DB: e.db, Metrics: m, Tracker: tracker,
		Faults: e.faults, Logger: logger, AdminToken: token,
	})
	return e
}
