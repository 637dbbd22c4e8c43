package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

// The side-by-side driver: a closed loop of POST /orders, the same for the
// floor and the service. It is smaller than internal/loadgen on purpose:
// orders only, no mix, no idempotency keys, no traceparent, bodies built
// before the clock starts, connections spread round-robin over several
// base URLs (two replicas behind one driver), and the latency histograms
// kept whole so that rounds and workers merge exactly. Percentiles come
// from loadgen's log-linear histogram (under 1% error).

// DriveOptions configure one round of the driver.
type DriveOptions struct {
	// URLs are the base URLs; connection i goes to URLs[i%len(URLs)].
	URLs []string
	// Conns is the number of connections, each with one request in flight.
	Conns int
	// Duration is how long requests are sent; those in flight at the end
	// are finished and counted.
	Duration time.Duration
	// Products are the product ids orders are for, drawn uniformly.
	Products []string
	// Seed makes the bodies of a round repeatable.
	Seed uint64
}

// DriveResult is what one side answered in one or more rounds.
type DriveResult struct {
	// Created counts 201 answers; Failed every other answer or transport
	// error (none are expected: stock is ample).
	Created, Failed int64
	// Elapsed is the time from the first request sent to the last answer.
	Elapsed time.Duration
	// Latency holds the latency of every 201, from sending the request to
	// reading the whole body.
	Latency loadgen.Histogram
	// CPU is the CPU time the whole process (driver, server, store) used
	// during the round; zero where it cannot be read. The driver's share
	// is the same for both sides, so the difference per order is what the
	// service adds.
	CPU time.Duration
	// FirstError describes the first failure, if any.
	FirstError string
}

// CPUPerOrder is the process's CPU time per created order.
func (r *DriveResult) CPUPerOrder() time.Duration {
	if r.Created == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Created)
}

// Throughput is created orders per second.
func (r *DriveResult) Throughput() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Created) / r.Elapsed.Seconds()
}

// Add merges o into r (rounds of the same side).
func (r *DriveResult) Add(o *DriveResult) {
	r.Created += o.Created
	r.Failed += o.Failed
	r.Elapsed += o.Elapsed
	r.CPU += o.CPU
	r.Latency.Merge(&o.Latency)
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
}

// bodiesPerConn is how many distinct bodies each connection cycles through.
const bodiesPerConn = 256

var orderTypeNames = [...]string{"online", "in_store", "phone"}

// orderBodies returns n POST /orders bodies of random products, quantities
// 1..3, types and customers.
func orderBodies(rng *rand.Rand, products []string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"product_id":%q,"quantity":%d,"type":%q,"customer_id":"c-%d"}`,
			products[rng.IntN(len(products))], 1+rng.IntN(3), orderTypeNames[rng.IntN(len(orderTypeNames))], rng.IntN(1000))
	}
	return out
}

// newDriveClient returns a client that keeps one connection per worker
// open, without proxies or HTTP/2.
func newDriveClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     time.Minute,
	}}
}

// Drive runs one closed-loop round: o.Conns workers each send POST /orders
// back to back for o.Duration.
func Drive(ctx context.Context, o DriveOptions) (*DriveResult, error) {
	switch {
	case len(o.URLs) == 0:
		return nil, errors.New("drive: no URL")
	case o.Conns <= 0:
		return nil, fmt.Errorf("drive: %d connections, want at least 1", o.Conns)
	case o.Duration <= 0:
		return nil, fmt.Errorf("drive: duration %v, want > 0", o.Duration)
	case len(o.Products) == 0:
		return nil, errors.New("drive: no products")
	}
	client := newDriveClient(o.Conns)
	defer client.CloseIdleConnections()
	rng := rand.New(rand.NewPCG(o.Seed, 0x0f100f))
	results := make([]DriveResult, o.Conns)
	bodies := make([][][]byte, o.Conns)
	for i := range bodies {
		bodies[i] = orderBodies(rng, o.Products, bodiesPerConn)
	}
	runCtx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	cpu0, cpuOK := processCPUTime()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range o.Conns {
		url := o.URLs[i%len(o.URLs)] + "/orders"
		wg.Go(func() { driveWorker(runCtx, client, url, bodies[i], &results[i]) })
	}
	wg.Wait()
	total := &DriveResult{Elapsed: time.Since(start)}
	if cpu1, ok := processCPUTime(); ok && cpuOK {
		total.CPU = cpu1 - cpu0
	}
	for i := range results {
		results[i].Elapsed = 0
		total.Add(&results[i])
	}
	return total, nil
}

// driveWorker sends bodies in turn until ctx ends. The request in flight
// at the end is not cancelled (it uses a context without the deadline),
// so the last answers are measured like the others.
func driveWorker(ctx context.Context, client *http.Client, url string, bodies [][]byte, res *DriveResult) {
	reqCtx := context.WithoutCancel(ctx)
	for i := 0; ctx.Err() == nil; i++ {
		req, err := http.NewRequestWithContext(reqCtx, http.MethodPost, url, bytes.NewReader(bodies[i%len(bodies)]))
		if err != nil {
			res.fail(err.Error())
			return
		}
		req.Header["Content-Type"] = []string{"application/json"}
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			res.fail(err.Error())
			// A refused or reset connection fails at once: do not spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		latency := time.Since(start)
		switch {
		case err != nil:
			res.fail("read body: " + err.Error())
		case resp.StatusCode != http.StatusCreated:
			res.fail(fmt.Sprintf("status %d", resp.StatusCode))
		default:
			res.Created++
			res.Latency.Record(latency)
		}
	}
}

func (r *DriveResult) fail(msg string) {
	r.Failed++
	if r.FirstError == "" {
		r.FirstError = msg
	}
}
