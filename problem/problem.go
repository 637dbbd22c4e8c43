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
// of the type URI) and a human-readable detail.
func New(status int, slug, detail string) Details {
	return Details{Type: TypeBase + slug, Title: http.StatusText(status), Status: status, Detail: detail}
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
		return New(http.StatusInternalServerError, "internal", "an unexpected error occurred")
	}
	var p Details
	switch e.Kind {
	case ordersvc.KindInvalid:
		p = New(http.StatusUnprocessableEntity, "validation", e.Message)
		p.Errors = e.Fields
	case ordersvc.KindNotFound:
		p = New(http.StatusNotFound, "not-found", e.Message)
	case ordersvc.KindConflict:
		p = New(http.StatusConflict, "conflict", e.Message)
	case ordersvc.KindUnavailable:
		p = New(http.StatusServiceUnavailable, "unavailable", e.Message)
	default:
		p = New(http.StatusInternalServerError, "internal", "an unexpected error occurred")
	}
	return p
}
