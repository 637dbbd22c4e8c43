package problem

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/internal/httpx"
)

func TestFromError(t *testing.T) {
	tests := []struct {
		err    error
		status int
		detail string
	}{
		{ordersvc.Errorf(ordersvc.KindNotFound, "order %q does not exist", "x"), 404, `order "x" does not exist`},
		{ordersvc.InvalidFields(ordersvc.FieldError{Field: "quantity", Message: "bad"}), 422, "request has invalid fields"},
		{ordersvc.Errorf(ordersvc.KindConflict, "not enough stock"), 409, "not enough stock"},
		{fmt.Errorf("wrapped: %w", ordersvc.WrapError(ordersvc.KindUnavailable, errors.New("disk I/O error at /var/secret"), "the database is unavailable")), 503, "the database is unavailable"},
		{errors.New("pq: password authentication failed for user admin"), 500, "an unexpected error occurred"},
	}
	for _, tt := range tests {
		p := FromError(tt.err)
		if p.Status != tt.status || p.Detail != tt.detail {
			t.Errorf("FromError(%v) = %d %q, want %d %q", tt.err, p.Status, p.Detail, tt.status, tt.detail)
		}
	}
	if p := FromError(ordersvc.InvalidFields(ordersvc.FieldError{Field: "quantity", Message: "bad"})); len(p.Errors) != 1 {
		t.Errorf("field errors lost: %+v", p)
	}
}

func TestWrite(t *testing.T) {
	w := httptest.NewRecorder()
	// The id comes from the request's context, never from a response header.
	w.Header().Set("X-Request-Id", "from-the-header")
	r := httptest.NewRequest("GET", "/", nil)
	r = r.WithContext(httpx.WithRequestID(r.Context(), "req-1"))
	Write(w, r, New(409, SlugConflict, "no stock"))
	if w.Code != 409 || w.Header().Get("Content-Type") != ContentType {
		t.Fatalf("status %d, content type %q", w.Code, w.Header().Get("Content-Type"))
	}
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if body["request_id"] != "req-1" || body["title"] != "Conflict" || !strings.HasPrefix(body["type"].(string), TypeBase) || body["status"] != 409.0 {
		t.Errorf("body = %v", body)
	}
	if _, ok := body["errors"]; ok {
		t.Error("empty field errors should be omitted")
	}
}
