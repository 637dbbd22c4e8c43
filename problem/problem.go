// Package problem writes RFC 9457 problem details (application/problem+json),
// the one error format of the HTTP API.
package problem

import (
	"encoding/json"
	"net/http"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/httpx"
)

// ContentType is the media type of a problem document.
const ContentType = "application/problem+json"

// TypeBase prefixes every problem type URI; the fragment names the problem.
const TypeBase = "https://github.com/ordersvc/ordersvc/blob/main/docs/problems.md#"

// Slug names a problem type: the fragment of its type URI (TypeBase +
// slug) and the heading that documents it in docs/problems.md. Every
// problem the API returns uses one of the Slug constants; a test checks
// that each is documented and that no call site uses anything else.
type Slug string

// The problem types the API returns, one heading each in docs/problems.md.
const (
	SlugValidation           Slug = "validation"             // 422: the input breaks a rule; see errors
	SlugNotFound             Slug = "not-found"              // 404: no such resource or route
	SlugConflict             Slug = "conflict"               // 409: the request clashes with current state
	SlugUnavailable          Slug = "unavailable"            // 503: a dependency is down; retry later
	SlugInternal             Slug = "internal"               // 500: an unexpected failure
	SlugMalformedRequest     Slug = "malformed-request"      // 400: the body is not the JSON the route takes
	SlugUnreadableBody       Slug = "unreadable-body"        // 400: the body could not be read
	SlugBodyTooLarge         Slug = "body-too-large"         // 413: the body exceeds the route's limit
	SlugUnsupportedMediaType Slug = "unsupported-media-type" // 415: the body is not declared as JSON
	SlugUnauthorized         Slug = "unauthorized"           // 401: missing or wrong bearer token
	SlugFeatureDisabled      Slug = "feature-disabled"       // 404 or 503: the feature's token is not configured
	SlugMethodNotAllowed     Slug = "method-not-allowed"     // 405: the path exists, the method does not
	SlugDraining             Slug = "draining"               // 503: the server is shutting down
	SlugInjectedFault        Slug = "injected-fault"         // 500: fault injection failed the request on purpose
)

// Slugs returns every problem type, in the order of docs/problems.md. Each
// call returns a fresh slice.
func Slugs() []Slug {
	return []Slug{
		SlugValidation, SlugNotFound, SlugConflict, SlugUnavailable, SlugInternal,
		SlugMalformedRequest, SlugUnreadableBody, SlugBodyTooLarge, SlugUnsupportedMediaType,
		SlugUnauthorized, SlugFeatureDisabled, SlugMethodNotAllowed, SlugDraining, SlugInjectedFault,
	}
}

// Details is a problem document.
type Details struct {
	Type      string                `json:"type"`
	Title     string                `json:"title"`
	Status    int                   `json:"status"`
	Detail    string                `json:"detail,omitempty"`
	Instance  string                `json:"instance,omitempty"`
	RequestID string                `json:"request_id,omitempty"`
	Errors    []ordersvc.FieldError `json:"errors,omitempty"`
}

// New returns a problem with the given status, a type slug (the fragment
// of the type URI; one of the Slug constants) and a human-readable detail.
func New(status int, slug Slug, detail string) Details {
	return Details{Type: TypeBase + string(slug), Title: http.StatusText(status), Status: status, Detail: detail}
}

// Write sends p on w as the answer to r. The request's id, when it has
// one, is copied into the body so a user can quote it.
func Write(w http.ResponseWriter, r *http.Request, p Details) {
	if p.RequestID == "" && r != nil {
		p.RequestID = httpx.RequestID(r.Context())
	}
	body, err := json.Marshal(p)
	if err != nil { // cannot happen for these field types; keep a valid reply anyway
		body = []byte(`{"type":"about:blank","title":"Internal Server Error","status":500}`)
		p.Status = http.StatusInternalServerError
	}
	h := w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_, _ = w.Write(body)
}

// FromError maps a domain error to a problem: its kind picks the status, and
// only the client-safe message of an *ordersvc.Error is shown. Anything
// else is a 500 with a generic detail (the cause is logged, not returned).
func FromError(err error) Details {
	e, ok := ordersvc.AsError(err)
	if !ok {
		return New(http.StatusInternalServerError, SlugInternal, "an unexpected error occurred")
	}
	var p Details
	switch e.Kind {
	case ordersvc.KindInvalid:
		p = New(http.StatusUnprocessableEntity, SlugValidation, e.Message)
		p.Errors = e.Fields
	case ordersvc.KindNotFound:
		p = New(http.StatusNotFound, SlugNotFound, e.Message)
	case ordersvc.KindConflict:
		p = New(http.StatusConflict, SlugConflict, e.Message)
	case ordersvc.KindUnavailable:
		p = New(http.StatusServiceUnavailable, SlugUnavailable, e.Message)
	default:
		p = New(http.StatusInternalServerError, SlugInternal, "an unexpected error occurred")
	}
	return p
}
