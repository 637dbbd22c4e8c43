package sentrytest_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		wantTypes []string
		wantLast  string // payload of the last item
		wantErr   string
	}{
		{
			name:      "length-prefixed item",
			body:      "{\"event_id\":\"abc\"}\n{\"type\":\"event\",\"length\":12}\n{\"a\":\"b\\nc\"}\n",
			wantTypes: []string{"event"},
			wantLast:  "{\"a\":\"b\\nc\"}",
		},
		{
			name:      "payload with a raw newline inside its length",
			body:      "{}\n{\"type\":\"attachment\",\"length\":3}\na\nb\n",
			wantTypes: []string{"attachment"},
			wantLast:  "a\nb",
		},
		{
			name:      "items without length and no final newline",
			body:      "{}\n{\"type\":\"event\"}\n{\"x\":1}\n{\"type\":\"client_report\"}\n{\"y\":2}",
			wantTypes: []string{"event", "client_report"},
			wantLast:  "{\"y\":2}",
		},
		{
			name:      "transaction then event",
			body:      "{}\n{\"type\":\"transaction\",\"length\":2}\n{}\n{\"type\":\"event\",\"length\":2}\n{}\n",
			wantTypes: []string{"transaction", "event"},
			wantLast:  "{}",
		},
		{name: "empty", body: "", wantErr: "envelope header"},
		{name: "header not JSON", body: "nope\n{\"type\":\"event\"}\n{}\n", wantErr: "envelope header"},
		{name: "no items", body: "{}\n", wantErr: "no items"},
		{name: "item without type", body: "{}\n{\"length\":2}\n{}\n", wantErr: "no type"},
		{name: "length longer than body", body: "{}\n{\"type\":\"event\",\"length\":50}\n{}\n", wantErr: "want 50 bytes"},
		{name: "length shorter than payload", body: "{}\n{\"type\":\"event\",\"length\":1}\n{}\n", wantErr: "not a newline"},
		{name: "negative length", body: "{}\n{\"type\":\"event\",\"length\":-1}\n{}\n", wantErr: "bad length"},
		{name: "event payload not JSON", body: "{}\n{\"type\":\"event\",\"length\":3}\nabc\n", wantErr: "not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := sentrytest.Parse([]byte(tt.body))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse() error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse() error = %v", err)
			}
			var types []string
			for _, it := range env.Items {
				types = append(types, it.Type)
			}
			if strings.Join(types, ",") != strings.Join(tt.wantTypes, ",") {
				t.Errorf("item types = %v, want %v", types, tt.wantTypes)
			}
			if got := string(env.Items[len(env.Items)-1].Payload); got != tt.wantLast {
				t.Errorf("last payload = %q, want %q", got, tt.wantLast)
			}
		})
	}
}

func TestSink(t *testing.T) {
	tests := []struct {
		name       string
		opts       sentrytest.Options
		path       string
		body       string
		wantStatus int
		wantEvents int
		wantErrors int
	}{
		{name: "healthy", path: "/api/42/envelope/", body: "{}\n{\"type\":\"event\",\"length\":17}\n{\"level\":\"fatal\"}\n", wantStatus: 200, wantEvents: 1},
		{name: "429", opts: sentrytest.Options{Status: 429, RetryAfter: "60"}, path: "/api/42/envelope/", body: "{}\n{\"type\":\"event\"}\n{}\n", wantStatus: 429, wantEvents: 1},
		{name: "malformed", path: "/api/42/envelope/", body: "garbage", wantStatus: 400, wantErrors: 1},
		{name: "wrong endpoint", path: "/api/42/store/", body: "{}\n{\"type\":\"event\"}\n{}\n", wantStatus: 404, wantErrors: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := sentrytest.New(t, tt.opts)
			base := strings.TrimSuffix(s.DSN(), "/"+sentrytest.ProjectID)
			base = "http://" + base[strings.Index(base, "@")+1:]
			resp, err := http.Post(base+tt.path, "application/x-sentry-envelope", bytes.NewBufferString(tt.body))
			if err != nil {
				t.Fatalf("post: %v", err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if got := s.Count("event"); got != tt.wantEvents {
				t.Errorf("events = %d, want %d", got, tt.wantEvents)
			}
			if got := len(s.Errors()); got != tt.wantErrors {
				t.Errorf("protocol errors = %v, want %d", s.Errors(), tt.wantErrors)
			}
			if tt.wantEvents > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				evs, err := s.WaitEvents(ctx, "event", tt.wantEvents)
				if err != nil {
					t.Fatal(err)
				}
				if tt.name == "healthy" && evs[0].Level != "fatal" {
					t.Errorf("level = %q, want fatal", evs[0].Level)
				}
			}
		})
	}
}

func TestSinkHoldAndDeadDSN(t *testing.T) {
	hold := make(chan struct{})
	s := sentrytest.New(t, sentrytest.Options{Hold: hold})
	base := s.DSN()
	base = "http://" + base[strings.Index(base, "@")+1:strings.LastIndex(base, "/")]
	client := &http.Client{Timeout: 100 * time.Millisecond}
	start := time.Now()
	if _, err := client.Post(base+"/api/42/envelope/", "x", strings.NewReader("{}\n{\"type\":\"event\"}\n{}\n")); err == nil {
		t.Fatal("a held request answered")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("held request took %v to time out", d)
	}
	close(hold)
	if s.Count("event") != 0 || s.Requests() != 1 {
		t.Errorf("held request: %d events, %d requests; want 0, 1", s.Count("event"), s.Requests())
	}

	dead := sentrytest.DeadDSN(t)
	dead = "http://" + dead[strings.Index(dead, "@")+1:strings.LastIndex(dead, "/")]
	if _, err := client.Post(dead+"/api/42/envelope/", "x", strings.NewReader("x")); err == nil {
		t.Fatal("a dead DSN answered")
	}
}
