package loadgen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds and defaults of a run.
const (
	maxConcurrency     = 10_000 // outstanding requests, hence goroutines
	maxRate            = 1e6    // requests/s
	flatOutConcurrency = 16     // workers when -rate 0 and no -concurrency
	maxBodyRead        = 1 << 20
	maxOrderBodyRead   = 64 << 10
	maxProducts        = 100_000 // SPEC §3.2: catalogs of 100k products work
	maxProductLen      = 255
)

// UserAgent is the User-Agent header of every request a run sends.
const UserAgent = "ordersvc-loadgen"

// Options configure a run. For the limits, zero means "none".
type Options struct {
	// BaseURL is the target, e.g. http://127.0.0.1:8080; a path is used
	// as a prefix. Run does not check that it is loopback; the CLI does.
	BaseURL *url.URL
	// Rate is the target requests/s, open-loop; 0 sends flat out.
	Rate float64
	// Concurrency bounds the requests in flight: the workers when flat
	// out, the outstanding requests at a rate. 0 picks 16 flat out, or
	// Rate×Timeout (enough that nothing is dropped before timing out).
	Concurrency int
	Duration    time.Duration // stop after this long
	Requests    int64         // stop after sending this many
	Timeout     time.Duration // per request, body included; required
	// Mix weights the request kinds; required (a positive total).
	Mix Mix
	// IdempotencyShare is the share (0..1) of orders with an
	// Idempotency-Key.
	IdempotencyShare float64
	// Products are the product ids orders are for, drawn uniformly (repeat
	// an id to weight it); empty means the demo catalog, sku-1..sku-5. At
	// most 100,000 ids of 1 to 255 bytes. The run keeps its own copy.
	Products []string
	// UnknownProductShare is the share (0..1) of orders for UnknownProduct,
	// which the service rejects with 404 (not an error: a 4xx).
	UnknownProductShare float64
	// Trace selects the traceparent header sent on each request; the
	// zero value sends a random one with the sampled flag off.
	Trace TraceMode
	// Seed seeds the request generators; runs with the same seed and
	// options send the same sequence of kinds, methods, paths and fresh
	// bodies.
	Seed uint64
	// Progress, if set, receives a progress line every ProgressInterval
	// (Progress.String), rewritten in place when it is a terminal and
	// appended otherwise (a pipe, a CI log). Write errors are ignored.
	Progress io.Writer
	// OnProgress, if set, is called with the same snapshots, from one
	// goroutine, never after the run has ended.
	OnProgress func(Progress)
	// ProgressInterval is the period of Progress and OnProgress; 0 is 1s.
	ProgressInterval time.Duration
}

// DefaultOptions returns the options of cmd/loadgen without flags: 100
// requests/s for 30s against base, a 5s timeout, DefaultMix, a tenth of
// the orders keyed, and seed 0 (set one to repeat a run).
func DefaultOptions(base *url.URL) Options {
	return Options{
		BaseURL:          base,
		Rate:             100,
		Duration:         30 * time.Second,
		Timeout:          5 * time.Second,
		Mix:              DefaultMix(),
		IdempotencyShare: 0.1,
	}
}

// EffectiveConcurrency returns the bound on requests in flight that a run
// with these options uses: Concurrency if set, else 16 flat out, else
// Rate×Timeout (at least 1, at most 10,000).
func (o *Options) EffectiveConcurrency() int {
	if o.Concurrency > 0 {
		return o.Concurrency
	}
	if o.Rate == 0 {
		return flatOutConcurrency
	}
	return int(min(max(math.Ceil(o.Rate*o.Timeout.Seconds()), 1), maxConcurrency))
}

// Validate reports the first invalid option. Messages start with the
// option's name as cmd/loadgen spells its flag (rate, concurrency, mix, …),
// so the command can prefix a dash and show them as they are.
func (o *Options) Validate() error {
	switch {
	case o.BaseURL == nil || o.BaseURL.Host == "":
		return errors.New("url: no target URL")
	case o.BaseURL.Scheme != "http" && o.BaseURL.Scheme != "https":
		return fmt.Errorf("url: scheme %q, want http or https", o.BaseURL.Scheme)
	case math.IsNaN(o.Rate) || o.Rate < 0 || o.Rate > maxRate:
		return fmt.Errorf("rate %g: want 0 (flat out) up to %g requests/s", o.Rate, float64(maxRate))
	case o.Concurrency < 0 || o.Concurrency > maxConcurrency:
		return fmt.Errorf("concurrency %d: want 1..%d, or 0 for auto", o.Concurrency, maxConcurrency)
	case o.Duration < 0:
		return fmt.Errorf("duration %v: want ≥ 0 (0 = no limit)", o.Duration)
	case o.Requests < 0:
		return fmt.Errorf("requests %d: want ≥ 0 (0 = no limit)", o.Requests)
	case o.Timeout <= 0:
		return fmt.Errorf("timeout %v: want > 0", o.Timeout)
	case o.Mix.total() <= 0:
		return errors.New("mix: no positive weight")
	case !(o.IdempotencyShare >= 0 && o.IdempotencyShare <= 1):
		return fmt.Errorf("idempotency %g: want a share in 0..1", o.IdempotencyShare)
	case len(o.Products) > maxProducts:
		return fmt.Errorf("products: %d ids, want at most %d", len(o.Products), maxProducts)
	case !(o.UnknownProductShare >= 0 && o.UnknownProductShare <= 1):
		return fmt.Errorf("unknown product share %g: want a share in 0..1", o.UnknownProductShare)
	case o.Trace < 0 || o.Trace >= numTraceModes:
		return fmt.Errorf("trace mode %d: want TraceUnsampled, TraceSampled or TraceOff", int(o.Trace))
	case o.ProgressInterval < 0:
		return fmt.Errorf("progress interval %v: want ≥ 0", o.ProgressInterval)
	}
	for _, w := range o.Mix {
		if w < 0 || w > maxWeight {
			return fmt.Errorf("mix: weight %d outside 0..%d", w, maxWeight)
		}
	}
	for _, id := range o.Products {
		if id == "" || len(id) > maxProductLen {
			return fmt.Errorf("products: id %.40q: want 1..%d bytes", id, maxProductLen)
		}
	}
	return nil
}

// budget hands out at most limit request slots (unlimited when limit ≤ 0).
type budget struct {
	limit int64
	taken atomic.Int64
}

// take claims a slot and reports whether one was left.
func (b *budget) take() bool { return b.limit <= 0 || b.taken.Add(1) <= b.limit }

// exhausted reports whether every slot has been claimed.
func (b *budget) exhausted() bool { return b.limit > 0 && b.taken.Load() >= b.limit }

// runner is the state of one run.
type runner struct {
	opts     Options
	conc     int
	base     string // BaseURL without a trailing slash
	client   *http.Client
	stats    *stats
	mem      *memory
	budget   budget
	start    time.Time
	inFlight atomic.Int64
	wg       sync.WaitGroup // request goroutines of the rate schedule
}

// newRunner returns the state of a run with valid options.
func newRunner(opts Options) *runner {
	// The run reads its own copy: the caller may reuse the slice.
	opts.Products = slices.Clone(opts.Products)
	if len(opts.Products) == 0 {
		opts.Products = demoProducts()
	}
	r := &runner{
		opts:   opts,
		conc:   opts.EffectiveConcurrency(),
		base:   strings.TrimSuffix(opts.BaseURL.String(), "/"),
		mem:    newMemory(),
		budget: budget{limit: opts.Requests},
		start:  time.Now(),
	}
	r.client = newClient(r.conc, opts.Timeout)
	r.stats = newStats(r.start)
	return r
}

// report returns the report of the run so far, elapsed after its start.
func (r *runner) report(elapsed time.Duration, reason string) *Report {
	rep := r.stats.report(elapsed)
	rep.Target = r.base
	rep.Mode = "flat-out"
	if r.opts.Rate > 0 {
		rep.Mode, rep.TargetRate = "rate", r.opts.Rate
	}
	rep.Concurrency = r.conc
	rep.Mix = r.opts.Mix.String()
	rep.Seed = r.opts.Seed
	rep.Trace = r.opts.Trace.String()
	rep.StopReason = reason
	return rep
}

// newClient returns a client with one kept-alive connection per possible
// in-flight request (the default of 2 idle connections per host would
// churn through ephemeral ports), no proxy and no redirects.
func newClient(conc int, timeout time.Duration) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // measure the target, not a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conc,
		MaxIdleConnsPerHost: conc,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: timeout,
		ForceAttemptHTTP2:   true,
	}
	return &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// schedule runs the open-loop schedule: request i is due at start + i/Rate.
// A due request is sent on its own goroutine if fewer than conc are in
// flight and dropped otherwise, so the schedule never waits on the server.
// When the loop falls behind (a stalled scheduler), it sends the overdue
// requests at once to keep the average rate.
func (r *runner) schedule(runCtx, reqCtx context.Context, start time.Time) {
	gen := newSource(0, &r.opts, r.mem)
	slots := make(chan struct{}, r.conc)
	interval := float64(time.Second) / r.opts.Rate
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; ; i++ {
		due := start.Add(time.Duration(float64(i) * interval))
		if r.opts.Duration > 0 && due.Sub(start) >= r.opts.Duration {
			return // exactly the requests due before the end, however timers race
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-runCtx.Done():
				return
			case <-timer.C:
			}
		} else if runCtx.Err() != nil {
			return
		}
		select {
		case slots <- struct{}{}:
		default:
			r.stats.drop()
			continue
		}
		if !r.budget.take() {
			return
		}
		req := gen.next()
		r.wg.Go(func() {
			defer func() { <-slots }()
			r.do(reqCtx, req)
		})
	}
}

// flatOut runs conc workers that send back to back until the run ends,
// and waits for them.
func (r *runner) flatOut(runCtx, reqCtx context.Context) {
	var wg sync.WaitGroup
	for w := range r.conc {
		gen := newSource(uint64(w)+1, &r.opts, r.mem)
		wg.Go(func() {
			for runCtx.Err() == nil && r.budget.take() {
				r.do(reqCtx, gen.next())
			}
		})
	}
	wg.Wait()
}

// startProgress prints to Progress and calls OnProgress every interval
// until the returned function is called; that function waits for the
// goroutine to end and finishes an in-place progress line.
func (r *runner) startProgress(start time.Time) (stop func()) {
	if r.opts.Progress == nil && r.opts.OnProgress == nil {
		return func() {}
	}
	var pp *progressPrinter
	if r.opts.Progress != nil {
		pp = newProgressPrinter(r.opts.Progress, isTerminal(r.opts.Progress))
	}
	every := r.opts.ProgressInterval
	if every <= 0 {
		every = time.Second
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				p := r.stats.snapshot(start, now, r.inFlight.Load())
				if pp != nil {
					pp.Print(p)
				}
				if r.opts.OnProgress != nil {
					r.opts.OnProgress(p)
				}
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		if pp != nil {
			pp.Finish()
		}
	}
}

// do sends one request, reads the response and records the outcome. The
// latency runs from sending to reading the whole body (up to maxBodyRead).
func (r *runner) do(ctx context.Context, req request) {
	r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	ctx, cancel := context.WithTimeout(ctx, r.opts.Timeout)
	defer cancel()

	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hreq, err := http.NewRequestWithContext(ctx, req.method, r.base+req.path, body)
	if err != nil { // generated methods and paths are valid; count it anyway
		r.stats.record(req, 0, errOther, 0)
		return
	}
	hreq.Header.Set("User-Agent", UserAgent)
	hreq.Header.Set("Accept", "application/json")
	if req.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	if req.idemKey != "" {
		hreq.Header.Set("Idempotency-Key", req.idemKey)
	}
	if r.opts.Trace != TraceOff {
		hreq.Header.Set("Traceparent", newTraceparent(r.opts.Trace == TraceSampled))
	}

	start := time.Now()
	resp, err := r.client.Do(hreq)
	if err != nil {
		r.stats.record(req, 0, classifyError(err), 0)
		return
	}
	id, err := readResponse(resp, req.kind == KindOrder)
	latency := time.Since(start)
	if err != nil {
		r.stats.record(req, 0, classifyError(err), 0)
		return
	}
	r.stats.record(req, resp.StatusCode, "", latency)
	if id != "" {
		r.mem.addID(id)
	}
}

// readResponse reads and closes the body, so that the connection can be
// reused, and returns the order id of a 2xx answer to an order.
func readResponse(resp *http.Response, order bool) (id string, err error) {
	defer resp.Body.Close()
	if order && resp.StatusCode/100 == 2 {
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxOrderBodyRead))
		if err != nil {
			return "", fmt.Errorf("read order response: %w", err)
		}
		id = extractOrderID(resp.Header.Get("Location"), data)
	}
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, maxBodyRead)); err != nil {
		return "", fmt.Errorf("read response: %w", err)
	}
	return id, nil
}
