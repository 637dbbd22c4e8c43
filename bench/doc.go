// Package bench measures what the production middleware stack
// (handlers.Middleware) costs per request, side by side with gin without
// middleware and with the peers it is meant to beat: zsais/go-gin-prometheus,
// slok/go-http-metrics, client_golang's promhttp InstrumentHandler* chain and
// getsentry/sentry-go/gin with gin.Recovery (SPEC §10).
//
// It is its own Go module so that the peers never enter the service's
// dependencies. Everything lives in the test files; see README.md.
package bench
