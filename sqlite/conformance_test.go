package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ordersvc/ordersvc/internal/storetest"
)

// TestConformance runs the store conformance suite on SQLite, each test
// on a new database file.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, cfg storetest.Config) storetest.Store {
		db, err := Open(context.Background(), filepath.Join(t.TempDir(), "db.sqlite"), Options{Currency: cfg.Currency, Observer: cfg.Observer})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		t.Cleanup(func() {
			if err := db.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		})
		return loaderDB{db}
	})
}
