// Package httpx is the request vocabulary every HTTP layer of the service
// speaks: the request id carried in the request's context, the route label
// (and "unmatched"), the closed set of method labels, and the probe routes
// that are served but not counted as traffic.
//
// It exists so that metrics, logging, error tracking and problem documents
// agree on these words by construction: each is defined here once, and no
// package learns about its own request by reading a response header.
package httpx

import (
	"net/http"
	"unicode/utf8"
)

// HeaderRequestID is the canonical form of the X-Request-ID header, so the
// header maps can be indexed without canonicalising on every request.
const HeaderRequestID = "X-Request-Id"

// Unmatched is the route label of a request that matched no route (404 and
// 405 answers): a bounded stand-in for the raw, client-chosen path.
const Unmatched = "unmatched"

// MethodOther is the method label of any method outside the standard set.
const MethodOther = "OTHER"

// methods is the closed set of method labels, in index order; MethodOther
// is last.
var methods = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace, MethodOther,
}

// NumMethods is the number of method labels, MethodOther included; method
// indexes run from 0 to NumMethods-1.
const NumMethods = len(methods)

// MethodIndex returns the index of m's label: a standard method's own, or
// that of MethodOther. It is a switch, not a map lookup, because it runs on
// every request.
func MethodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodConnect:
		return 6
	case http.MethodOptions:
		return 7
	case http.MethodTrace:
		return 8
	}
	return NumMethods - 1
}

// MethodLabel returns the label of the method with index i (see
// MethodIndex).
func MethodLabel(i int) string { return methods[i] }

// Method normalises a request method into the closed label set.
func Method(m string) string { return methods[MethodIndex(m)] }

// Methods returns every method label, MethodOther last.
func Methods() [NumMethods]string { return methods }

// RouteLabel returns the label of a request's route: its template
// (gin's FullPath), or Unmatched when it matched none.
func RouteLabel(fullPath string) string {
	if fullPath == "" {
		return Unmatched
	}
	return fullPath
}

// Probe routes: scraped and probed by machines, served but never counted as
// traffic (counting them would dilute error ratios and latency
// percentiles), never logged per request, never faulted. The API
// description is in the set too: it is fetched by tools (client
// generators, documentation sites), not by the service's users, so it is
// no more traffic than a scrape.
const (
	RouteMetrics     = "/metrics"
	RouteHealthz     = "/healthz"
	RouteReadyz      = "/readyz"
	RouteOpenAPIYAML = "/openapi.yaml"
	RouteOpenAPIJSON = "/openapi.json"
)

// IsProbe reports whether route is one of the probe routes: the one set
// the RED metrics, the access log and tracing all skip.
func IsProbe(route string) bool {
	switch route {
	case RouteMetrics, RouteHealthz, RouteReadyz, RouteOpenAPIYAML, RouteOpenAPIJSON:
		return true
	}
	return false
}

// Clip shortens s to at most n bytes without splitting a UTF-8 sequence,
// for values taken from requests or errors into logs and reports.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}
