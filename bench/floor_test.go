package bench

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
