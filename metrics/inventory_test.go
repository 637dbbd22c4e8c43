package metrics

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeStocks is a StockReader over a fixed list, failing with err after
// it has streamed every product.
type fakeStocks struct {
	ids    []string
	stocks []int64
	err    error
	block  bool // wait for the context to end, then fail with its error
}

func (f *fakeStocks) ProductStocks(ctx context.Context, fn func(string, int64) error) error {
	for i, id := range f.ids {
		if err := fn(id, f.stocks[i]); err != nil {
			return err
		}
	}
	if f.block {
		<-ctx.Done()
		return ctx.Err()
	}
	return f.err
}

func newFakeStocks(n int) *fakeStocks {
	f := &fakeStocks{}
	for i := range n {
		f.ids = append(f.ids, fmt.Sprintf("p-%05d", i))
		f.stocks = append(f.stocks, int64(i*7%1000))
	}
	return f
}

func TestInventoryCollector(t *testing.T) {
	for _, tc := range []struct {
		name    string
		store   *fakeStocks
		want    int // inventory_level series
		wantErr bool
	}{
		{"empty catalog", newFakeStocks(0), 0, false},
		{"one product", newFakeStocks(1), 1, false},
		// More than one chunk, and not a multiple of it.
		{"several chunks", newFakeStocks(3*stockChunk + 5), 3*stockChunk + 5, false},
		{"the store fails", &fakeStocks{err: errors.New("disk on fire")}, 0, true},
		{"the store fails after some rows", func() *fakeStocks { f := newFakeStocks(10); f.err = errors.New("lost"); return f }(), 10, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			if err := RegisterInventory(reg, tc.store); err != nil {
				t.Fatal(err)
			}
			families, err := reg.Gather()
			if (err != nil) != tc.wantErr {
				t.Fatalf("gather error %v, want an error: %v", err, tc.wantErr)
			}
			got := map[string]float64{}
			for _, f := range families {
				if f.GetName() != "inventory_level" {
					t.Errorf("unexpected family %s", f.GetName())
				}
				for _, m := range f.GetMetric() {
					if len(m.GetLabel()) != 1 || m.GetLabel()[0].GetName() != "product_id" {
						t.Fatalf("labels %v, want product_id only", m.GetLabel())
					}
					got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
				}
			}
			if len(got) != tc.want {
				t.Errorf("%d series, want %d", len(got), tc.want)
			}
			for i, id := range tc.store.ids {
				if v, ok := got[id]; !ok || v != float64(tc.store.stocks[i]) {
					t.Errorf("inventory_level{product_id=%q} = %v (present %v), want %d", id, v, ok, tc.store.stocks[i])
				}
			}
		})
	}
}

// TestInventoryCollectorTimeout: a store that does not answer costs the
// scrape its inventory series, after the collector's timeout, not forever.
func TestInventoryCollectorTimeout(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := &inventoryCollector{
		store:   &fakeStocks{block: true},
		desc:    prometheus.NewDesc("inventory_level", "h", []string{"product_id"}, nil),
		label:   "product_id",
		timeout: 50 * time.Millisecond,
	}
	reg.MustRegister(c)
	start := time.Now()
	if _, err := reg.Gather(); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("gather: %v, want the read's deadline exceeded", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gather took %v with a 50ms inventory timeout", d)
	}
}
