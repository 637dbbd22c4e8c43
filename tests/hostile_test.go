package tests

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// Bounds of the hostile-traffic test.
const (
	hostileIdleConns      = 300
	hostileSlowConns      = 50
	hostileSamples        = 200                    // requests per latency measurement
	hostileSlowByteEvery  = 100 * time.Millisecond // slowloris: one header byte this often
	hostileHeaderTimeout  = 5 * time.Second        // the server's ReadHeaderTimeout
	hostileCloseSlack     = 5 * time.Second        // how late after it a slowloris may be cut off
	hostileWebhooks       = 100
	hostileWebhookPadding = 1<<20 - 4<<10 // an annotation that keeps the body just under the 1 MiB limit
	hostileMaxRSSGrowth   = 150 << 20
)

// TestHostileTraffic: idle keep-alive connections and a slowloris do not
// slow a well-behaved client down, and large webhook deliveries keep the
// service's memory bounded.
func TestHostileTraffic(t *testing.T) {
	bin := testkit.ServiceBinary(t)

	t.Run("idle connections and slowloris", func(t *testing.T) {
		began := time.Now()
		svc := testkit.StartServiceProc(t, testkit.ServiceProcOptions{Bin: bin})
		client := &http.Client{Timeout: 10 * time.Second}
		svc.Client = client
		base := hostileLatencies(t, svc, "baseline")

		idle := hostileIdle(t, svc, hostileIdleConns)
		defer func() {
			for _, c := range idle {
				_ = c.Close()
			}
		}()
		slow := hostileSlowloris(t, svc, hostileSlowConns)
		during := hostileLatencies(t, svc, "during")
		cutOff := slow.wait()

		p50b, p99b, p50d, p99d := quantile(base, 0.5), quantile(base, 0.99), quantile(during, 0.5), quantile(during, 0.99)
		t.Logf("client latency, %d requests each: baseline p50 %s p99 %s; with %d idle keep-alive connections and %d slowloris connections p50 %s p99 %s",
			hostileSamples, p50b, p99b, hostileIdleConns, hostileSlowConns, p50d, p99d)
		t.Logf("slowloris: %d of %d connections cut off by the server, the last %s after it began (ReadHeaderTimeout %s); %s",
			slow.closed(), hostileSlowConns, cutOff.Round(time.Millisecond), hostileHeaderTimeout, time.Since(began).Round(time.Millisecond))
		if limit := 5*p99b + 50*time.Millisecond; p99d > limit {
			t.Errorf("p99 during the attack %s, want at most %s (5× the baseline + 50ms)", p99d, limit)
		}
		if n := slow.closed(); n != hostileSlowConns {
			t.Errorf("%d of %d slowloris connections still open %s after they began", hostileSlowConns-n, hostileSlowConns, hostileHeaderTimeout+hostileCloseSlack)
		}
	})

	t.Run("large webhooks", func(t *testing.T) {
		began := time.Now()
		svc := testkit.StartServiceProc(t, testkit.ServiceProcOptions{Bin: bin})
		hostileLatencies(t, svc, "warm-up")
		before := rss(t, svc)
		statuses := map[int]int{}
		for i := range hostileWebhooks {
			r, err := svc.Webhook(alertNotification(fmt.Sprintf("big%03d", i), hostileWebhookPadding))
			if err != nil {
				t.Fatalf("webhook %d: %v", i, err)
			}
			statuses[r.Status]++
			// A bound on annotation values (400) is fine; a 5xx or 413 is not.
			if r.Status/100 != 2 && r.Status != http.StatusBadRequest {
				t.Errorf("webhook %d: %s", i, truncate(r.String(), 300))
			}
		}
		afterPosts := rss(t, svc)
		r, err := svc.Admin(http.MethodGet, "/alerts?limit=500", nil)
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("GET /alerts: %v %v", r, err)
		}
		afterList := rss(t, svc)
		t.Logf("RSS: %d MiB before, %d MiB after %d webhooks of %d KiB (statuses %v), %d MiB after GET /alerts?limit=500 (a %d KiB page); %s",
			before>>20, afterPosts>>20, hostileWebhooks, len(alertNotification("x", hostileWebhookPadding))>>10, statuses,
			afterList>>20, len(r.Body)>>10, time.Since(began).Round(time.Millisecond))
		if g := afterPosts - before; g > hostileMaxRSSGrowth {
			t.Errorf("RSS grew by %d MiB over the webhooks, want under %d MiB", g>>20, hostileMaxRSSGrowth>>20)
		}
		// Fails until GET /alerts pages are bounded in bytes (issue #10,
		// the lead's change): today one page of 100 such alerts is ~100 MiB
		// of JSON, and the service holds it several times over.
		if g := afterList - before; g > hostileMaxRSSGrowth {
			t.Errorf("RSS grew by %d MiB once GET /alerts listed them, want under %d MiB (pages bounded in bytes, SPEC §6)", g>>20, hostileMaxRSSGrowth>>20)
		}
	})
}

// hostileLatencies sends hostileSamples requests one after another (a
// catalog read and an order in turn) and returns their latencies. Every
// request must succeed.
func hostileLatencies(t *testing.T, svc *testkit.ServiceProc, phase string) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, hostileSamples)
	for i := range hostileSamples {
		start := time.Now()
		var r *testkit.Response
		var err error
		want := http.StatusOK
		if i%2 == 0 {
			r, err = svc.Send(http.MethodGet, "/inventory?limit=20", nil)
		} else {
			r, err = svc.Send(http.MethodPost, "/orders", []byte(`{"product_id":"sku-1","quantity":1,"type":"online"}`))
			want = http.StatusCreated
		}
		out = append(out, time.Since(start))
		if err != nil || r.Status != want {
			t.Fatalf("%s: request %d: %v %v", phase, i, r, err)
		}
	}
	return out
}

// quantile returns the q-quantile of ds (nearest rank).
func quantile(ds []time.Duration, q float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(q*float64(len(s))+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// hostileIdle opens n keep-alive connections, sends one request on each,
// reads the answer and leaves the connection idle.
func hostileIdle(t *testing.T, svc *testkit.ServiceProc, n int) []net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(svc.URL, "http://")
	conns := make([]net.Conn, 0, n)
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		conns = append(conns, c)
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ordersvc\r\n\r\n"); err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("idle connection %d: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("idle connection %d: %s, close=%v", i, resp.Status, resp.Close)
		}
		_ = c.SetDeadline(time.Time{})
	}
	return conns
}

// slowloris is a set of connections that send their request headers one
// byte at a time and never finish them.
type slowloris struct {
	began time.Time
	wg    sync.WaitGroup
	mu    sync.Mutex
	cut   []time.Duration // when the server closed each connection, after began
}

// hostileSlowloris starts n slowloris connections; each ends when the
// server closes it or after the close slack past the header timeout.
func hostileSlowloris(t *testing.T, svc *testkit.ServiceProc, n int) *slowloris {
	t.Helper()
	addr := strings.TrimPrefix(svc.URL, "http://")
	s := &slowloris{began: time.Now()}
	header := "GET /inventory HTTP/1.1\r\nHost: ordersvc\r\nX-Slow: " + strings.Repeat("a", 1000)
	for i := range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("slowloris connection %d: %v", i, err)
		}
		s.wg.Go(func() {
			defer c.Close()
			giveUp := time.Now().Add(hostileHeaderTimeout + hostileCloseSlack)
			for j := 0; time.Now().Before(giveUp); j++ {
				_ = c.SetWriteDeadline(time.Now().Add(time.Second))
				if _, err := c.Write([]byte{header[j%len(header)]}); err != nil {
					s.mark()
					return
				}
				// A closed connection shows on a read too (the server may
				// answer 408 before it closes).
				_ = c.SetReadDeadline(time.Now().Add(hostileSlowByteEvery))
				var b [512]byte
				if _, err := c.Read(b[:]); err != nil && !isTimeout(err) {
					s.mark()
					return
				}
			}
		})
	}
	return s
}

func (s *slowloris) mark() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cut = append(s.cut, time.Since(s.began))
}

// wait waits for every slowloris connection to end (bounded by its own
// give-up time) and returns when the last one was cut off.
func (s *slowloris) wait() time.Duration {
	s.wg.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cut) == 0 {
		return 0
	}
	return slices.Max(s.cut)
}

func (s *slowloris) closed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.cut)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// rss reads the service's resident set size.
func rss(t *testing.T, svc *testkit.ServiceProc) int64 {
	t.Helper()
	n, err := testkit.RSS(svc.PID())
	if err != nil {
		t.Fatal(err)
	}
	return n
}
