package postgres

import (
	"context"
	"os"
	"testing"

	"github.com/ordersvc/ordersvc/internal/storetest"
	"github.com/ordersvc/ordersvc/internal/testkit/pgtest"
)

// pg is the PostgreSQL server of this test binary, started by the first
// test that needs it and stopped by TestMain.
var pg pgtest.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := pg.Close(); err != nil {
		os.Stderr.WriteString("pgtest: " + err.Error() + "\n")
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}

// openTestDB opens a DB on a new database of the shared server, closed when
// the test ends.
func openTestDB(t *testing.T, opts Options) *DB {
	t.Helper()
	url := pg.Server(t).NewDatabase(t)
	db, err := Open(context.Background(), url, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestConformance runs the store conformance suite on PostgreSQL, each
// test on a new database.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) storetest.Store {
		return loaderDB{openTestDB(t, Options{Currency: cfg.Currency, Observer: cfg.Observer})}
	})
}
