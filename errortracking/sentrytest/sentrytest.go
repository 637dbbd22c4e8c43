// Package sentrytest is a local Sentry for tests: an HTTP server on
// 127.0.0.1 that accepts the envelopes a real Sentry SDK posts to
// /api/<project>/envelope/, parses the envelope format (a header line, then
// items, each an item-header line and a payload whose size the header's
// "length" gives, or that runs to the end of the line), and keeps every
// request's raw bytes so tests can search them for things that must never
// leave the process.
//
// The sink can also misbehave on purpose (answer 429, or hold requests until
// the client gives up) to test what a service does when Sentry is down.
package sentrytest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// MaxEnvelopeBytes bounds one request body, as Sentry's ingestion does.
const MaxEnvelopeBytes = 4 << 20

// maxEnvelopes bounds what a sink keeps, so a runaway test cannot eat memory.
const maxEnvelopes = 10_000

// PublicKey is the key of the sink's DSN, and ProjectID its project.
const (
	PublicKey = "0123456789abcdef0123456789abcdef"
	ProjectID = "42"
)

// Options make a sink misbehave. The zero value is a healthy Sentry.
type Options struct {
	// Status, when non-zero, is the status of every reply (e.g. 429).
	Status int
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string
	// Hold, when set, makes every request wait until it is closed or the
	// client gives up, like a Sentry that accepts connections and never
	// answers. The envelope is not recorded.
	Hold <-chan struct{}
	// Delay, when set, makes every request wait this long before it is
	// recorded and answered: a slow but working Sentry.
	Delay time.Duration
}

// Envelope is one parsed request.
type Envelope struct {
	// Raw is the request body as received.
	Raw []byte
	// Header is the envelope header (event_id, sent_at, dsn, sdk, trace).
	Header map[string]any
	// HeaderLine is the envelope header's raw JSON line.
	HeaderLine []byte
	// Items are the envelope's items, in order.
	Items []Item
	// Auth is the X-Sentry-Auth request header.
	Auth string
	// Path is the request path.
	Path string
}

// Item is one envelope item.
type Item struct {
	// Type is the item header's type: event, transaction, client_report, …
	Type string
	// Header is the whole item header.
	Header map[string]any
	// Payload is the item's bytes.
	Payload []byte
}

// Event is the part of an event or transaction payload tests look at.
type Event struct {
	EventID     string            `json:"event_id"`
	Level       string            `json:"level"`
	Message     string            `json:"message"`
	Transaction string            `json:"transaction"`
	Environment string            `json:"environment"`
	Release     string            `json:"release"`
	Platform    string            `json:"platform"`
	Type        string            `json:"type"`
	Tags        map[string]string `json:"tags"`
	Fingerprint []string          `json:"fingerprint"`
	Request     *struct {
		URL         string            `json:"url"`
		Method      string            `json:"method"`
		Data        string            `json:"data"`
		QueryString string            `json:"query_string"`
		Cookies     string            `json:"cookies"`
		Headers     map[string]string `json:"headers"`
		Env         map[string]string `json:"env"`
	} `json:"request"`
	Exception []struct {
		Type       string `json:"type"`
		Value      string `json:"value"`
		Stacktrace *struct {
			Frames []struct {
				Function string `json:"function"`
				Module   string `json:"module"`
			} `json:"frames"`
		} `json:"stacktrace"`
		Mechanism *struct {
			Type    string `json:"type"`
			Handled *bool  `json:"handled"`
		} `json:"mechanism"`
	} `json:"exception"`
	Contexts map[string]map[string]any `json:"contexts"`
	// Raw is the item payload this event was decoded from.
	Raw []byte `json:"-"`
}

// Sink is a local Sentry. Its methods are safe for concurrent use.
type Sink struct {
	srv  *httptest.Server
	opts Options

	mu        sync.Mutex
	envelopes []Envelope
	requests  int
	errs      []error
	changed   chan struct{} // closed and replaced on every new envelope
}

// New starts a sink on 127.0.0.1 and stops it when the test ends.
func New(t testing.TB, opts Options) *Sink {
	t.Helper()
	s := &Sink{opts: opts, changed: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// DSN is the DSN that sends to this sink.
func (s *Sink) DSN() string {
	return "http://" + PublicKey + "@" + strings.TrimPrefix(s.srv.URL, "http://") + "/" + ProjectID
}

// DeadDSN returns a DSN for a port on 127.0.0.1 where nothing listens, so
// every delivery fails at once with "connection refused".
func DeadDSN(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatalf("close listener: %v", err)
	}
	return "http://" + PublicKey + "@" + addr + "/" + ProjectID
}

func (s *Sink) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if s.opts.Delay > 0 {
		select {
		case <-time.After(s.opts.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if s.opts.Hold != nil {
		select {
		case <-s.opts.Hold:
		case <-r.Context().Done():
		}
		http.Error(w, "held", http.StatusServiceUnavailable)
		return
	}
	want := "/api/" + ProjectID + "/envelope/"
	if r.Method != http.MethodPost || r.URL.Path != want {
		s.fail(fmt.Errorf("unexpected request %s %s", r.Method, r.URL.Path))
		http.Error(w, "not an envelope endpoint", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxEnvelopeBytes))
	if err != nil {
		s.fail(fmt.Errorf("read envelope: %w", err))
		http.Error(w, "bad body", http.StatusRequestEntityTooLarge)
		return
	}
	env, err := Parse(body)
	if err != nil {
		s.fail(err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	env.Auth = r.Header.Get("X-Sentry-Auth")
	env.Path = r.URL.Path
	s.mu.Lock()
	if len(s.envelopes) < maxEnvelopes {
		s.envelopes = append(s.envelopes, env)
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()

	if s.opts.RetryAfter != "" {
		w.Header().Set("Retry-After", s.opts.RetryAfter)
	}
	if s.opts.Status != 0 {
		w.WriteHeader(s.opts.Status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = fmt.Fprintf(w, `{"id":%q}`, fmt.Sprint(env.Header["event_id"]))
}

func (s *Sink) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.errs) < 100 {
		s.errs = append(s.errs, err)
	}
}

// Errors returns the protocol errors the sink saw (malformed envelopes,
// wrong endpoints). A correct SDK causes none.
func (s *Sink) Errors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// Requests returns how many HTTP requests reached the sink.
func (s *Sink) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// Envelopes returns the envelopes received so far.
func (s *Sink) Envelopes() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Envelope(nil), s.envelopes...)
}

// Events returns the payloads of every item of the given type ("event",
// "transaction") received so far, decoded.
func (s *Sink) Events(itemType string) ([]Event, error) {
	var out []Event
	for _, env := range s.Envelopes() {
		for _, it := range env.Items {
			if it.Type != itemType {
				continue
			}
			var ev Event
			if err := json.Unmarshal(it.Payload, &ev); err != nil {
				return nil, fmt.Errorf("decode %s item: %w", itemType, err)
			}
			ev.Raw = it.Payload
			out = append(out, ev)
		}
	}
	return out, nil
}

// WaitEvents waits until at least n items of itemType arrived or ctx ends,
// and returns what arrived.
func (s *Sink) WaitEvents(ctx context.Context, itemType string, n int) ([]Event, error) {
	for {
		s.mu.Lock()
		changed := s.changed
		s.mu.Unlock()
		evs, err := s.Events(itemType)
		if err != nil {
			return nil, err
		}
		if len(evs) >= n {
			return evs, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return evs, fmt.Errorf("got %d %s items, want %d: %w", len(evs), itemType, n, ctx.Err())
		}
	}
}

// Parse parses one envelope: a header line, then items of an item-header
// line and a payload. A payload with a "length" is exactly that many bytes
// followed by a newline or the end; one without runs to the end of its line.
func Parse(body []byte) (Envelope, error) {
	env := Envelope{Raw: body}
	r := bufio.NewReader(bytes.NewReader(body))
	line, err := readLine(r)
	if err != nil {
		return env, fmt.Errorf("envelope header: %w", err)
	}
	env.HeaderLine = line
	if err := json.Unmarshal(line, &env.Header); err != nil {
		return env, fmt.Errorf("envelope header: %w", err)
	}
	for {
		line, err := readLine(r)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return env, fmt.Errorf("item %d header: %w", len(env.Items), err)
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // trailing newline
		}
		var it Item
		if err := json.Unmarshal(line, &it.Header); err != nil {
			return env, fmt.Errorf("item %d header: %w", len(env.Items), err)
		}
		typ, _ := it.Header["type"].(string)
		if typ == "" {
			return env, fmt.Errorf("item %d header: no type", len(env.Items))
		}
		it.Type = typ
		if l, ok := it.Header["length"]; ok {
			n, ok := l.(float64)
			if !ok || n < 0 || n > MaxEnvelopeBytes || n != float64(int(n)) {
				return env, fmt.Errorf("item %d: bad length %v", len(env.Items), l)
			}
			it.Payload = make([]byte, int(n))
			if _, err := io.ReadFull(r, it.Payload); err != nil {
				return env, fmt.Errorf("item %d payload: want %d bytes: %w", len(env.Items), int(n), err)
			}
			if b, err := r.ReadByte(); err == nil && b != '\n' {
				return env, fmt.Errorf("item %d payload: %d bytes are followed by %q, not a newline", len(env.Items), int(n), b)
			}
		} else {
			payload, err := readLine(r)
			if err != nil && !errors.Is(err, io.EOF) {
				return env, fmt.Errorf("item %d payload: %w", len(env.Items), err)
			}
			it.Payload = payload
		}
		if !json.Valid(it.Payload) && (typ == "event" || typ == "transaction") {
			return env, fmt.Errorf("item %d (%s): payload is not JSON", len(env.Items), typ)
		}
		env.Items = append(env.Items, it)
	}
	if len(env.Items) == 0 {
		return env, errors.New("envelope has no items")
	}
	return env, nil
}

// readLine returns the next line without its newline; io.EOF only when
// nothing is left.
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadBytes('\n')
	if errors.Is(err, io.EOF) {
		if len(line) == 0 {
			return nil, io.EOF
		}
		return line, nil
	}
	if err != nil {
		return nil, err
	}
	return line[:len(line)-1], nil
}

// Count is a shorthand for tests: the number of items of itemType so far.
func (s *Sink) Count(itemType string) int {
	n := 0
	for _, env := range s.Envelopes() {
		for _, it := range env.Items {
			if it.Type == itemType {
				n++
			}
		}
	}
	return n
}

// String describes the sink for failure messages.
func (s *Sink) String() string {
	return "sentry sink at " + s.srv.URL + " (" + strconv.Itoa(s.Requests()) + " requests)"
}
