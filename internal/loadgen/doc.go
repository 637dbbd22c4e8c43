// Package loadgen drives a mixed workload against an ordersvc instance and
// reports throughput, latency and exactly what the service answered. It is
// the engine of cmd/loadgen (load runs, demos that make alerts fire) and of
// the end-to-end suite's background traffic, and it can be pointed at any
// base URL: a server on loopback, a remote host, or an httptest.Server
// wrapping an http.Handler.
//
// A run is configured by Options and either driven to its end with Run, or
// started in the background with Start and ended with Generator.Stop. Both
// give a Report, which prints as text (Report.WriteText, Report.String) or
// as JSON (Report.WriteJSON).
//
//	opts := loadgen.DefaultOptions(base) // 100 req/s for 30s
//	opts.Progress = os.Stderr            // a live progress line per second
//	rep, err := loadgen.Run(ctx, opts)
//	if err != nil { ... }                // invalid options
//	fmt.Print(rep)
//
// Workload. Every request is one of three kinds, drawn at random with the
// weights of Options.Mix (default orders=70,reads=25,junk=5):
//
//   - orders: POST /orders with a JSON body {"product_id":"sku-1".."sku-5",
//     "quantity":1..3,"type":"online|in_store|phone","customer_id":"c-N"}.
//     A share (Options.IdempotencyShare) carries an Idempotency-Key; a
//     quarter of those replay an earlier key with its exact body, as a
//     client retry would. Options.Products replaces the product ids, and
//     Options.UnknownProductShare asks for orders the service rejects as
//     for an unknown product (404).
//   - reads: GET /inventory, GET /reports/summary, or GET /orders/<id> of an
//     order this run created (taken from the Location header of a 201).
//   - junk: random /nope/... paths and odd methods (DELETE /inventory, BREW
//     /orders, ...). 4xx answers are expected and are not counted as errors.
//
// Modes. With Options.Rate N (requests/s) the schedule is open-loop: request
// i is due at start + i/N whatever happened to earlier ones, so a slow
// server does not lower the offered load. At most Options.Concurrency
// requests are outstanding; a request that is due while that many are in
// flight is not sent and is counted as dropped, so saturation shows up in
// the report instead of silently bending the schedule. With Rate 0,
// Concurrency workers send back to back (closed loop, "flat out").
//
// Limits. A run stops after Options.Duration or Options.Requests (whichever
// comes first; 0 disables a limit), when its context ends, or on
// Generator.Stop. In-flight requests are then drained, not aborted, each
// bounded by Options.Timeout; every goroutine of the run has ended when Run
// or Stop returns.
//
// Tracing. By default every request carries a W3C traceparent with a fresh
// random trace id and the sampled flag off ("00-<32 hex>-<16 hex>-00"), so
// the service continues a trace per request without being asked to record
// it; Options.Trace selects flags 01 or no header (see TraceMode).
//
// Output. Errors are 5xx answers plus transport failures (timeouts, refused
// or reset connections); 4xx are not errors. The report holds requests and
// status classes per kind, the status code histogram, transport errors by
// cause, requests/s, orders/s (POST /orders answered 2xx), dropped requests,
// and p50/p90/p99/max latency for each kind and overall.
//
// Latency is measured from sending the request to reading the whole response
// body; transport failures have no latency. Percentiles come from a
// fixed-size log-linear histogram (10µs..60s, under 1% error), so memory
// does not grow with the length of the run.
package loadgen
