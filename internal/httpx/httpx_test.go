package httpx

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestMethodLabels(t *testing.T) {
	tests := []struct{ in, want string }{
		{"GET", "GET"}, {"HEAD", "HEAD"}, {"POST", "POST"}, {"PUT", "PUT"}, {"PATCH", "PATCH"},
		{"DELETE", "DELETE"}, {"CONNECT", "CONNECT"}, {"OPTIONS", "OPTIONS"}, {"TRACE", "TRACE"},
		{"get", MethodOther}, {"PROPFIND", MethodOther}, {"", MethodOther}, {strings.Repeat("X", 1000), MethodOther},
	}
	for _, tt := range tests {
		if got := Method(tt.in); got != tt.want {
			t.Errorf("Method(%.20q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := MethodLabel(MethodIndex(tt.in)); got != tt.want {
			t.Errorf("MethodLabel(MethodIndex(%.20q)) = %q, want %q", tt.in, got, tt.want)
		}
	}
	seen := map[string]bool{}
	for i, m := range Methods() {
		if MethodIndex(m) != i || seen[m] {
			t.Errorf("method %q at index %d: MethodIndex = %d (duplicate: %v)", m, i, MethodIndex(m), seen[m])
		}
		seen[m] = true
	}
}

func TestRouteLabelAndProbes(t *testing.T) {
	if RouteLabel("") != Unmatched || RouteLabel("/orders/:id") != "/orders/:id" {
		t.Error("RouteLabel: want the template, or unmatched for none")
	}
	for route, want := range map[string]bool{"/metrics": true, "/healthz": true, "/readyz": true, "/openapi.yaml": true, "/openapi.json": true, "/orders": false, "": false, "/metrics/": false} {
		if IsProbe(route) != want {
			t.Errorf("IsProbe(%q) = %v, want %v", route, !want, want)
		}
	}
}

func TestClip(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"}, {"abcdef", 3, "abc"}, {"", 3, ""}, {"abc", 0, ""},
		{"héllo", 2, "h"}, // é is two bytes: never cut inside it
		{"héllo", 3, "hé"},
		{"日本語", 4, "日"},
	}
	for _, tt := range tests {
		if got := Clip(tt.in, tt.n); got != tt.want {
			t.Errorf("Clip(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestAssignRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming []string
		keep     bool
	}{
		{"none", nil, false},
		{"sane", []string{"req-42.a:b_c"}, true},
		{"too long", []string{strings.Repeat("a", MaxRequestIDLen+1)}, false},
		{"longest", []string{strings.Repeat("a", MaxRequestIDLen)}, true},
		{"control characters", []string{"a\nb"}, false},
		{"spaces", []string{"a b"}, false},
		{"two values", []string{"a", "b"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.incoming != nil {
				r.Header[HeaderRequestID] = tt.incoming
			}
			w := httptest.NewRecorder()
			r2 := AssignRequestID(w, r)
			id := RequestID(r2.Context())
			if got := w.Header().Get(HeaderRequestID); got != id || id == "" {
				t.Fatalf("response header %q, context id %q: want the same non-empty id", got, id)
			}
			if tt.keep && id != tt.incoming[0] {
				t.Errorf("id = %q, want the incoming %q", id, tt.incoming[0])
			}
			if !tt.keep && (len(id) != 16 || !SaneRequestID(id)) {
				t.Errorf("generated id %q: want 16 hex digits", id)
			}
			if RequestID(r.Context()) != "" {
				t.Error("the original request's context changed")
			}
		})
	}
}

func TestRequestIDSurvivesDerivedContexts(t *testing.T) {
	ctx := WithRequestID(context.Background(), "abc")
	type other struct{}
	derived, cancel := context.WithCancel(context.WithValue(ctx, other{}, 1))
	defer cancel()
	if RequestID(derived) != "abc" || derived.Value(other{}) != 1 {
		t.Errorf("derived context: id %q, other value %v", RequestID(derived), derived.Value(other{}))
	}
	if RequestID(context.Background()) != "" {
		t.Error("a context without an id must give \"\"")
	}
}

func TestGeneratedIDsDiffer(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		w := httptest.NewRecorder()
		id := RequestID(AssignRequestID(w, httptest.NewRequest(http.MethodGet, "/", nil)).Context())
		if seen[id] {
			t.Fatalf("id %q generated twice in 1000", id)
		}
		seen[id] = true
	}
}

func TestAssignRequestIDAllocs(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	w := httptest.NewRecorder()
	allocs := testing.AllocsPerRun(100, func() {
		clear(w.Header())
		if RequestID(AssignRequestID(w, r).Context()) == "" {
			t.Fatal("no id")
		}
	})
	// The context (with the header value and id bytes inside) and the
	// request copy that carries it.
	if allocs > 2 {
		t.Errorf("AssignRequestID: %.0f allocations, want at most 2", allocs)
	}
}
