package testkit

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// ServiceStartTimeout bounds the start of the service binary by
// StartServiceProc: the listening log line, then readiness.
const ServiceStartTimeout = 60 * time.Second

// ServiceProcOptions change how StartServiceProc runs the service binary.
type ServiceProcOptions struct {
	// Name names the process in messages and its log file (default
	// "ordersvc"); give each start of a test its own.
	Name string
	// Bin is the binary (default ServiceBinary).
	Bin string
	// DBPath is the SQLite database file (default a new file in a
	// temporary directory).
	DBPath string
	// Env is added after the defaults (HTTP_ADDR on a kernel-chosen port
	// of 127.0.0.1, DATABASE_URL, the admin and webhook tokens AdminToken
	// and WebhookToken, LOG_FORMAT=json, SHUTDOWN_DELAY=0); a variable
	// given here wins.
	Env []string
	// Dir and SysProcAttr are as in ProcOptions.
	Dir         string
	SysProcAttr *syscall.SysProcAttr
	// NoWaitReady returns once the service listens, without waiting for
	// /readyz to answer 200 (a store that starts faulted is not ready).
	NoWaitReady bool
}

// ServiceProc is the service binary running as a child process.
type ServiceProc struct {
	*Proc
	// URL is the service's base URL, "http://127.0.0.1:port".
	URL string
	// DBPath is its database file.
	DBPath string
	// Client sends the requests of Send and its variants.
	Client *http.Client
}

// StartServiceProc starts the service binary, reads its address from the
// "ordersvc listening" log line and waits until /readyz answers 200 (unless
// o.NoWaitReady). The process is stopped by PID when the test ends.
func StartServiceProc(t testing.TB, o ServiceProcOptions) *ServiceProc {
	t.Helper()
	if o.Name == "" {
		o.Name = "ordersvc"
	}
	if o.Bin == "" {
		o.Bin = ServiceBinary(t)
	}
	if o.DBPath == "" {
		o.DBPath = filepath.Join(t.TempDir(), "ordersvc.db")
	}
	env := append([]string{
		"HTTP_ADDR=127.0.0.1:0",
		"DATABASE_URL=sqlite://" + o.DBPath,
		"ADMIN_TOKEN=" + AdminToken,
		"ALERT_WEBHOOK_TOKEN=" + WebhookToken,
		"LOG_FORMAT=json",
		"SHUTDOWN_DELAY=0",
	}, o.Env...)
	p := StartProc(t, o.Name, o.Bin, nil, ProcOptions{Env: env, Dir: o.Dir, SysProcAttr: o.SysProcAttr})
	rec := p.WaitJSONLogLine(t, "ordersvc listening", ServiceStartTimeout)
	addr, _ := rec["addr"].(string)
	if addr == "" {
		t.Fatalf("%s logged \"ordersvc listening\" without addr: %v", o.Name, rec)
	}
	s := &ServiceProc{Proc: p, URL: "http://" + addr, DBPath: o.DBPath, Client: HTTPClient}
	if !o.NoWaitReady {
		p.WaitReady(t, s.URL+"/readyz", ServiceStartTimeout)
	}
	return s
}

// Response is an answer of the service, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// String is the status and the body, for messages.
func (r *Response) String() string { return fmt.Sprintf("%d %s", r.Status, bytes.TrimSpace(r.Body)) }

// Send sends one request; headers are name, value pairs. A body gets
// Content-Type application/json. An error means no answer arrived.
func (s *ServiceProc) Send(method, path string, body []byte, headers ...string) (*Response, error) {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, s.URL+path, r)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s %s: read the answer: %w", method, path, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Admin is Send with the admin token.
func (s *ServiceProc) Admin(method, path string, body []byte, headers ...string) (*Response, error) {
	return s.Send(method, path, body, append(headers, "Authorization", "Bearer "+AdminToken)...)
}

// Webhook posts an Alertmanager notification with the webhook token.
func (s *ServiceProc) Webhook(body []byte) (*Response, error) {
	return s.Send(http.MethodPost, "/webhooks/alertmanager", body, "Authorization", "Bearer "+WebhookToken)
}

// Gauge scrapes /metrics and returns the value of the unlabelled gauge
// name, failing the test when it is missing.
func (s *ServiceProc) Gauge(t testing.TB, name string) float64 {
	t.Helper()
	f, ok := Scrape(t, s.URL+"/metrics")[name]
	if !ok || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge() == nil {
		t.Fatalf("%s: no gauge %s in /metrics", s.Name, name)
	}
	return f.GetMetric()[0].GetGauge().GetValue()
}
