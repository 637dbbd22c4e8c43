package handlers_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

const (
	adminToken   = testkit.AdminToken
	webhookToken = testkit.WebhookToken
)

// env is the real service in memory, built by internal/app as the server
// builds it: a SQLite file in a temp dir, a fresh registry, the production
// router, driven through httptest.
type env struct {
	t      *testing.T
	dbPath string
	svc    *testkit.Service
	db     app.Store
}

// envOptions change what newEnvWith builds.
type envOptions struct {
	// dbPath is the database file; empty means a new one.
	dbPath string
	// noSeed starts from an empty catalog.
	noSeed bool
	// vars override configuration variables ("" unsets one).
	vars map[string]string
	// wrap wraps the store (failure injection).
	wrap func(app.Store) app.Store
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, envOptions{})
}

func openEnv(t *testing.T, dbPath string, seed bool) *env {
	t.Helper()
	return newEnvWith(t, envOptions{dbPath: dbPath, noSeed: !seed})
}

func newEnvWith(t *testing.T, o envOptions) *env {
	t.Helper()
	if o.dbPath == "" {
		o.dbPath = filepath.Join(t.TempDir(), "ordersvc.db")
	}
	vars := map[string]string{"DATABASE_URL": "sqlite://" + filepath.ToSlash(o.dbPath)}
	for k, v := range o.vars {
		vars[k] = v
	}
	svc := testkit.NewService(t, testkit.ServiceOptions{Env: vars, NoSeed: o.noSeed, WrapStore: o.wrap})
	return &env{t: t, dbPath: o.dbPath, svc: svc, db: svc.Store}
}

// newEnvWithAdmin is a service whose ADMIN_TOKEN is token ("" = unset).
func newEnvWithAdmin(t *testing.T, token string) *env {
	t.Helper()
	return newEnvWith(t, envOptions{vars: map[string]string{"ADMIN_TOKEN": token}})
}

// do sends a request; headers are name, value pairs. A JSON content type is
// set for bodies unless a Content-Type header is given.
func (e *env) do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.svc.Do(method, path, body, headers...)
}

func (e *env) admin(method, path, body string) *httptest.ResponseRecorder {
	e.t.Helper()
	return e.svc.Admin(method, path, body)
}

// metric returns one series' value; key is "name|label=value|…" with the
// labels in alphabetical order. A missing series is -1.
func (e *env) metric(key string) float64 {
	e.t.Helper()
	return e.svc.Metric(key)
}

func (e *env) metrics() map[string]float64 {
	e.t.Helper()
	return testkit.Metrics(e.t, e.svc.Metrics)
}

// forwarded returns how many alerts the webhook forwarded to error
// tracking.
func (e *env) forwarded() int { return len(e.svc.Forwarded.Alerts()) }

// deliveryStats is the store's webhook delivery log (a SQLite diagnostic).
func (e *env) deliveryStats() (deliveries, truncated int64) {
	e.t.Helper()
	s, ok := e.db.(interface {
		DeliveryStats(ctx context.Context) (int64, int64, error)
	})
	if !ok {
		e.t.Fatalf("the store %T keeps no delivery log", e.db)
	}
	deliveries, truncated, err := s.DeliveryStats(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return deliveries, truncated
}

func (e *env) stock(id string) int64 {
	e.t.Helper()
	stock := int64(-1)
	err := e.db.ProductStocks(context.Background(), func(pid string, s int64) error {
		if pid == id {
			stock = s
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return stock
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
