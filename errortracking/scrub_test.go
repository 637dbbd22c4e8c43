package errortracking

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/getsentry/sentry-go"
)

const (
	testAdmin   = "adm-tok-1234567890"
	testWebhook = "whk<tok>&0987654321" // characters encoding/json escapes
	testDSN     = "https://pubkey0123456789@o1.ingest.example.com/42"
)

// secretsOf lists the strings no scrubbed event may hold.
var secretsOf = []string{testAdmin, testWebhook, testDSN, "pubkey0123456789"}

func TestScrubberEvent(t *testing.T) {
	s := newScrubber(testDSN, []string{testAdmin, testWebhook, "", "abc"})
	leak := "x " + testAdmin + " y " + testWebhook + " z " + testDSN
	type stringer struct{ Token string }
	tests := []struct {
		name  string
		event func() *sentry.Event
		check func(t *testing.T, ev *sentry.Event)
	}{
		{"message and transaction", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.Message, ev.Transaction = leak, leak
			return ev
		}, func(t *testing.T, ev *sentry.Event) {
			if !strings.Contains(ev.Message, Filtered) || !strings.HasPrefix(ev.Message, "x ") {
				t.Errorf("message = %q, want the secrets filtered and the rest kept", ev.Message)
			}
		}},
		{"tags keys and values", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.Tags["t"] = leak
			ev.Tags[testAdmin] = "v"
			return ev
		}, nil},
		{"contexts, nested and typed", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.Contexts["c"] = sentry.Context{
				"s": leak, "n": 3,
				"nested":   map[string]any{"deeper": []any{leak, map[string]string{"k": leak}}},
				"list":     []string{leak},
				"struct":   stringer{Token: testAdmin},
				"harmless": stringer{Token: "fine"},
			}
			return ev
		}, func(t *testing.T, ev *sentry.Event) {
			if ev.Contexts["c"]["struct"] != Filtered {
				t.Errorf("a struct holding a secret = %v, want %q", ev.Contexts["c"]["struct"], Filtered)
			}
			if ev.Contexts["c"]["harmless"] != (stringer{Token: "fine"}) || ev.Contexts["c"]["n"] != 3 {
				t.Errorf("harmless values changed: %v", ev.Contexts["c"])
			}
		}},
		{"breadcrumbs", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.Breadcrumbs = []*sentry.Breadcrumb{{Message: leak, Category: leak, Data: map[string]any{"d": leak}}, nil}
			return ev
		}, nil},
		{"exceptions, mechanism and frames", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.Exception = []sentry.Exception{{Type: leak, Value: leak, Module: leak,
				Mechanism:  &sentry.Mechanism{Description: leak, Data: map[string]any{"m": leak}},
				Stacktrace: &sentry.Stacktrace{Frames: []sentry.Frame{{ContextLine: leak, PreContext: []string{leak}, PostContext: []string{leak}, Vars: map[string]any{"v": leak}}}},
			}}
			ev.Threads = []sentry.Thread{{Name: leak}}
			return ev
		}, nil},
		{"request", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.Request = &sentry.Request{
				URL:         "https://user:" + testAdmin + "@svc/orders?token=" + testWebhook + "#frag",
				Method:      "GET",
				Data:        `{"body":"secret body"}`,
				QueryString: "token=" + testWebhook,
				Cookies:     "session=" + testAdmin,
				Env:         map[string]string{"REMOTE_ADDR": "10.0.0.1"},
				Headers: map[string]string{
					"Authorization": "Bearer " + testAdmin, "Cookie": "a=b", "X-Api-Key": "k",
					"X-Auth-Token": "t", "Proxy-Authorization": "p", "User-Agent": "ua " + testWebhook,
				},
			}
			return ev
		}, func(t *testing.T, ev *sentry.Event) {
			r := ev.Request
			if r.URL != "https://svc/orders" {
				t.Errorf("URL = %q, want https://svc/orders", r.URL)
			}
			if r.Data != "" || r.QueryString != "" || r.Cookies != "" || r.Env != nil {
				t.Errorf("body, query, cookies or env kept: %+v", r)
			}
			if len(r.Headers) != 1 || r.Headers["User-Agent"] != "ua "+Filtered {
				t.Errorf("headers = %v, want only the filtered User-Agent", r.Headers)
			}
		}},
		{"user and fingerprint", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.User = sentry.User{ID: "u", IPAddress: "10.0.0.1", Email: "a@b.c"}
			ev.Fingerprint = []string{"alert", leak}
			return ev
		}, func(t *testing.T, ev *sentry.Event) {
			if !ev.User.IsEmpty() {
				t.Errorf("user = %+v, want empty", ev.User)
			}
			if ev.Fingerprint[0] != "alert" {
				t.Errorf("fingerprint = %v", ev.Fingerprint)
			}
		}},
		{"transaction spans", func() *sentry.Event {
			ev := sentry.NewEvent()
			ev.Type = "transaction"
			ev.Spans = []*sentry.Span{{Name: leak, Description: leak, Tags: map[string]string{"t": leak}, Data: map[string]any{"d": leak}}, nil}
			return ev
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := s.event(tt.event())
			b, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			for _, secret := range secretsOf {
				for _, form := range []string{secret, strings.Trim(mustJSON(t, secret), `"`)} {
					if strings.Contains(string(b), form) {
						t.Errorf("secret %q survived scrubbing: %s", form, b)
					}
				}
			}
			if s.leaks(b) {
				t.Errorf("leaks() = true after scrubbing: %s", b)
			}
			if tt.check != nil {
				tt.check(t, ev)
			}
		})
	}
}

func TestScrubberLeaks(t *testing.T) {
	s := newScrubber("", []string{testWebhook, "ab"})
	tests := []struct {
		in   string
		want bool
	}{
		{"plain " + testWebhook, true},
		{mustJSON(t, testWebhook), true}, // JSON-escaped form
		{"ab is too short to be a secret", false},
		{"nothing", false},
	}
	for _, tt := range tests {
		if got := s.leaks([]byte(tt.in)); got != tt.want {
			t.Errorf("leaks(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := s.str("ab"); got != "ab" {
		t.Errorf("a secret shorter than %d bytes was scrubbed: %q", minSecretLen, got)
	}
	if got := newScrubber("", nil).str("anything"); got != "anything" {
		t.Errorf("a scrubber without secrets changed a string: %q", got)
	}
}

func TestSensitiveHeader(t *testing.T) {
	tests := map[string]bool{
		"Authorization": true, "Cookie": true, "Set-Cookie": true, "X-Api-Key": true, "X-Auth-Token": true,
		"Proxy-Authorization": true, "X-CSRF-Token": true, "X-Session-Id": true,
		"User-Agent": false, "Content-Type": false, "Accept": false, "X-Request-Id": false,
	}
	for h, want := range tests {
		if got := sensitiveHeader(h); got != want {
			t.Errorf("sensitiveHeader(%q) = %v, want %v", h, got, want)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
