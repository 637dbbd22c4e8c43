// Command loadgen drives a mixed workload against an ordersvc instance and
// reports throughput and latency. It is how the throughput and tail latency
// of POST /orders are measured on loopback, and how demos make alerts fire.
// The engine is package internal/loadgen; this command maps its flags onto
// loadgen.Options, sets and resets faults, and prints the report.
//
// Usage:
//
//	loadgen [flags]
//
//	go run ./cmd/loadgen                                   # 100 req/s for 30s at 127.0.0.1:8080
//	go run ./cmd/loadgen -rate 0 -concurrency 32 -requests 200000 -json
//	go run ./cmd/loadgen -duration 10m -admin-token "$ADMIN_TOKEN" -faults '{"error_rate":0.3}'
//
// Workload. Every request is one of three kinds, drawn at random with the
// weights of -mix (default orders=70,reads=25,junk=5):
//
//   - orders: POST /orders with a JSON body {"product_id":"sku-1".."sku-5",
//     "quantity":1..3,"type":"online|in_store|phone","customer_id":"c-N"}.
//     A share (-idempotency) carries an Idempotency-Key; a quarter of those
//     replay an earlier key with its exact body, as a client retry would.
//   - reads: GET /inventory, GET /reports/summary, or GET /orders/<id> of an
//     order this run created (taken from the Location header of a 201).
//   - junk: random /nope/... paths and odd methods (DELETE /inventory, BREW
//     /orders, ...). 4xx answers are expected and are not counted as errors.
//
// Every request carries a W3C traceparent header with a random trace id and
// the sampled flag off (00), which the service continues (SPEC §11).
//
// Modes. With -rate N (requests/s) the schedule is open-loop: request i is
// due at start + i/N whatever happened to earlier ones, so a slow server does
// not lower the offered load. At most -concurrency requests are outstanding;
// a request that is due while that many are in flight is not sent and is
// counted as dropped, so saturation shows up in the report instead of
// silently bending the schedule. With -rate 0, -concurrency workers send
// back to back (closed loop, "flat out").
//
// The run stops after -duration or -requests (whichever comes first; 0
// disables a limit) or on SIGINT/SIGTERM. In-flight requests are then
// drained, each bounded by -timeout; a second Ctrl-C quits at once.
//
// Safety. Only loopback targets (127.0.0.0/8, ::1, localhost) are accepted
// unless -allow-remote is given. With -faults, the JSON object is PUT to
// /admin/faults (Bearer -admin-token, or $ADMIN_TOKEN) before the run and
// {} is PUT after it, also when the run is interrupted.
//
// Output. Once a second a progress line goes to stderr (rewritten in place
// when stderr is a terminal): elapsed time, requests completed, rate, error
// share, 4xx share and p50/p99 latency over the last second. Errors are 5xx
// answers plus transport failures (timeouts, refused or reset connections).
// The final report goes to stdout, as text or with -json as one JSON object:
// requests and status classes per kind, the status code histogram, transport
// errors by cause, requests/s, orders/s (POST /orders answered 2xx), dropped
// requests, and p50/p90/p99/max latency for each kind and overall.
//
// Latency is measured from sending the request to reading the whole response
// body; transport failures have no latency. Percentiles come from a
// fixed-size log-linear histogram (10µs..60s, under 1% error), so memory
// does not grow with the length of the run.
//
// Exit status: 0 after a run, 1 when the run could not be done (faults not
// accepted, no HTTP response at all), 2 on bad flags.
package main
