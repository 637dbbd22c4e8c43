package testkit

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/config"
	"github.com/ordersvc/ordersvc/internal/app"
	"github.com/ordersvc/ordersvc/metrics"
)

// Service is the real service in process: internal/app built from a test
// configuration, driven through its http.Handler without a network.
type Service struct {
	*app.App
	t testing.TB
	// Forwarded records the alerts the webhook forwards, in place of
	// error tracking.
	Forwarded *RecordingForwarder
}

// ServiceOptions change what NewService builds.
type ServiceOptions struct {
	// Env overrides configuration variables (see Config).
	Env map[string]string
	// Config, when set, is used instead of Config(t, Env).
	Config *config.Config
	// Logger receives the service's logs; nil discards them.
	Logger *slog.Logger
	// NoSeed starts from an empty catalog.
	NoSeed bool
	// WrapStore wraps the store (see app.Options).
	WrapStore func(app.Store) app.Store
	// PruneInterval is the alert retention loop's interval (see
	// app.Options).
	PruneInterval time.Duration
	// SpanExporter turns tracing on, exporting there (see app.Options).
	SpanExporter sdktrace.SpanExporter
}

// quietGin sets gin's process-wide mode once, as the server's main does:
// release mode prints no route table.
var quietGin sync.Once

// NewService builds the service, closed when the test ends.
func NewService(t testing.TB, o ServiceOptions) *Service {
	t.Helper()
	quietGin.Do(func() { gin.SetMode(gin.ReleaseMode) })
	cfg := o.Config
	if cfg == nil {
		c := Config(t, o.Env)
		cfg = &c
	}
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	fwd := &RecordingForwarder{}
	a, err := app.New(context.Background(), *cfg, app.Options{
		Logger:         logger,
		Build:          metrics.BuildInfo{Version: "test", Revision: "test", GoVersion: "test"},
		AlertForwarder: fwd,
		NoSeed:         o.NoSeed,
		WrapStore:      o.WrapStore,
		PruneInterval:  o.PruneInterval,
		SpanExporter:   o.SpanExporter,
	})
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Close(); err != nil {
			t.Errorf("close the service: %v", err)
		}
	})
	return &Service{App: a, t: t, Forwarded: fwd}
}

// Do sends one request to the service; headers are name, value pairs. A
// body gets Content-Type application/json unless a Content-Type header is
// given. With ValidateExchanges on, the request and the response are
// checked against the API description.
func (s *Service) Do(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	s.t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	// The validator gets its own copy: the handler consumes the body.
	var sent *http.Request
	if exchangeCheck.on.Load() {
		sent = req.Clone(context.Background())
	}
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if sent != nil {
		checkExchange(s.t, sent, []byte(body), w.Code, w.Header(), w.Body.Bytes())
	}
	return w
}

// Admin is Do with the admin bearer token of the configuration.
func (s *Service) Admin(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	s.t.Helper()
	return s.Do(method, path, body, append(headers, "Authorization", "Bearer "+s.Config.AdminToken)...)
}

// Webhook posts an Alertmanager notification body with the webhook token.
func (s *Service) Webhook(body string, headers ...string) *httptest.ResponseRecorder {
	s.t.Helper()
	return s.Do(http.MethodPost, "/webhooks/alertmanager", body, append(headers, "Authorization", "Bearer "+s.Config.AlertWebhookToken)...)
}

// Alerts returns GET /alerts as the admin, failing the test on anything
// but a 200.
func (s *Service) Alerts(query string) []ordersvc.Alert {
	s.t.Helper()
	w := s.Admin(http.MethodGet, "/alerts"+query, "")
	if w.Code != http.StatusOK {
		s.t.Fatalf("GET /alerts%s: %d %s", query, w.Code, w.Body)
	}
	var r struct {
		Alerts []ordersvc.Alert `json:"alerts"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		s.t.Fatalf("GET /alerts: %v", err)
	}
	return r.Alerts
}

// Metric returns one series' value from the service's registry (see
// Metrics for the key), or -1 when it does not exist.
func (s *Service) Metric(key string) float64 {
	s.t.Helper()
	return Metric(s.t, s.Metrics, key)
}

// RecordingForwarder is a handlers.AlertForwarder that keeps the alerts it
// is given, safe for concurrent use.
type RecordingForwarder struct {
	mu     sync.Mutex
	alerts []ordersvc.Alert
}

// ForwardAlert implements handlers.AlertForwarder.
func (f *RecordingForwarder) ForwardAlert(a ordersvc.Alert, _ map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts = append(f.alerts, a)
}

// Alerts returns a copy of the alerts forwarded so far.
func (f *RecordingForwarder) Alerts() []ordersvc.Alert {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.alerts)
}
