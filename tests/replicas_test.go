package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
	"github.com/ordersvc/ordersvc/errortracking/sentrytest"
	"github.com/ordersvc/ordersvc/internal/crossref"
	"github.com/ordersvc/ordersvc/internal/loadgen"
	"github.com/ordersvc/ordersvc/internal/testkit"
	"github.com/ordersvc/ordersvc/internal/testkit/pgtest"
)

// Bounds of the scale-out test's phases; like the single-service test's,
// several times what each takes on a loaded 2-core machine.
const (
	// outageTimeout bounds how long the replicas take to notice that
	// PostgreSQL stopped, or started again.
	outageTimeout = 30 * time.Second
	// shutdownDelay is the replicas' SHUTDOWN_DELAY: after SIGTERM a
	// replica keeps serving this long while /readyz answers 503.
	shutdownDelay = 2 * time.Second
)

// replicaStack is the scale-out topology of SPEC.md §2 and §9: two service
// replicas on one PostgreSQL database, postgres_exporter watching it,
// Prometheus scraping both replicas (job ordersvc) and the exporter (job
// postgres), and two clustered Alertmanagers whose every receiver posts to
// both replicas' webhooks. The embedded stack's single-service helpers
// (svcURL, storedAlerts, …) talk to replica 0.
type replicaStack struct {
	*stack
	pg       *pgtest.Server
	replicas []*testkit.ServiceProc
}

// startReplicaStack starts every component and waits until each is
// ready; every process is stopped by PID when the test ends.
func startReplicaStack(t *testing.T, n int) *replicaStack {
	t.Helper()
	pg := pgtest.StartServer(t)
	dbURL := pg.NewDatabase(t)
	_, exporterAddr := testkit.StartPostgresExporter(t, dbURL)

	s := &stack{t: t, dir: t.TempDir(), pgExporter: exporterAddr}
	s.sink = sentrytest.New(t, sentrytest.Options{})
	rs := &replicaStack{stack: s, pg: pg}
	s.started = time.Now()
	for i := range n {
		// One after the other (StartServiceProc may end the test, which a
		// goroutine must not): replicas migrating and seeding at once are
		// the subject of postgres/replicas_test.go; here it is the service.
		r := testkit.StartServiceProc(t, testkit.ServiceProcOptions{
			Name: "ordersvc-" + strconv.Itoa(i),
			Env: []string{
				"DATABASE_URL=" + dbURL,
				"SENTRY_DSN=" + s.sink.DSN(),
				"SENTRY_ENVIRONMENT=e2e",
				"SHUTDOWN_DELAY=" + shutdownDelay.String(),
				"SHUTDOWN_TIMEOUT=10s",
				"HEARTBEAT_TIMEOUT=" + heartbeatTimeout.String(),
			},
		})
		rs.replicas = append(rs.replicas, r)
		s.replicaURLs = append(s.replicaURLs, r.URL)
	}
	s.service, s.svcURL = rs.replicas[0].Proc, rs.replicas[0].URL
	s.startAlertmanagers(testkit.Tool(t, "alertmanager"), 2)
	s.startPrometheus(testkit.Tool(t, "prometheus"))
	testkit.WaitFor(t, `prometheus scrapes postgres_exporter (pg_up{job="postgres"} == 1)`, startTimeout, func() (bool, string) {
		v, err := s.promQuery(`pg_up{job="postgres"} == 1 and on (instance) up{job="postgres"} == 1`)
		if err != nil {
			return false, err.Error()
		}
		return len(v) == 1, fmt.Sprintf("%+v", v)
	})
	return rs
}

// instance is replica i's instance label in Prometheus.
func (rs *replicaStack) instance(i int) string {
	return strings.TrimPrefix(rs.replicas[i].URL, "http://")
}

// TestReplicas runs two replicas of the service on one PostgreSQL, behind
// Prometheus and two clustered Alertmanagers, and proves that they behave
// as one service (SPEC.md §2, §9): no oversell and one order per
// Idempotency-Key whichever replica gets the request, one record per alert
// although both Alertmanagers deliver to both replicas, HighErrorRate on
// the job-wide ratio, TargetDown for a replica stopped while the other
// serves every request, and a database outage that both replicas answer
// with 503, that DatabaseDown and PostgresDown report, and that they
// recover from without a restart.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: starts PostgreSQL, postgres_exporter, two replicas, Prometheus and two Alertmanagers")
	}
	ph := newPhases(t)
	testkit.PostgresExporterBinary(t)
	pgtest.Require(t)
	testkit.ServiceBinary(t)
	testkit.Tool(t, "prometheus")
	testkit.Tool(t, "alertmanager")
	ph.done("find postgres_exporter and PostgreSQL, build the service, find prometheus and alertmanager in the tool cache")

	rs := startReplicaStack(t, 2)
	ph.done(fmt.Sprintf("start the stack: PostgreSQL, postgres_exporter, replicas at %s and %s, 2 clustered Alertmanagers, Prometheus",
		rs.instance(0), rs.instance(1)))

	wd := rs.waitStored(t, "Watchdog", ordersvc.AlertFiring, alertTimeout)
	ph.done(fmt.Sprintf("Watchdog delivered (receiver %s, %d deliveries so far)", wd.Receiver, wd.Deliveries))

	rs.checkExternalSeries(t)
	rs.checkPostgresExporterSeries(t)
	ph.done("every series crossref.External lists, postgres_exporter's included, exists in this Prometheus")

	created0 := rs.ordersCreated(t)
	rs.raceStock(t, 200, 50)
	ph.done("200 concurrent orders over both replicas against stock 50")
	rs.raceIdempotency(t, 20)
	ph.done("the same Idempotency-Key to both replicas at once")
	if got := rs.ordersCreated(t) - created0; got != 50+20 {
		t.Errorf("orders_created_total summed over both replicas rose by %v, want 70 (50 + 20 keys, replays not counted)", got)
	} else {
		t.Logf("orders_created_total summed over both replicas rose by %v: 50 races won + 20 keys, no replay counted", got)
	}

	rs.errorRate(t)
	ph.done("HighErrorRate on the job-wide ratio: faults on one replica")

	rs.checkAlertsStoredOnce(t, rs.replicas)
	ph.done("every alert stored once, the same list on both replicas")

	rs.switchOncePerOutage(t)
	ph.done("dead man's switch on two replicas: one outage, one Sentry event, one recovery")

	rs.databaseOutage(t)
	ph.done("PostgreSQL stopped and started: 503s, db_up 0, DatabaseDown and PostgresDown; recovery without a restart")

	rs.stopOneReplica(t)
	ph.done("SIGTERM one replica: TargetDown for it, no failed client request")

	rs.checkAlertsStoredOnce(t, rs.replicas[:1])
	ph.done("every alert stored once, at the end")
}

// switchOncePerOutage kills both Alertmanagers: the heartbeat stops
// reaching either replica, both replicas' switches check, and the sink
// receives exactly one "alerting pipeline silent" event (the store-side
// claim), within HEARTBEAT_TIMEOUT + 10% of the last heartbeat; both
// replicas show the outage. Restarted, the heartbeat reaches whichever
// replica and one recovery is reported.
func (rs *replicaStack) switchOncePerOutage(t *testing.T) {
	t.Helper()
	for i := range rs.replicas {
		hb := rs.heartbeatOf(t, i)
		if hb.State != ordersvc.HeartbeatOK {
			t.Fatalf("%s: heartbeat state %q before the kill, want ok", rs.replicas[i].Name, hb.State)
		}
	}
	silentBefore, _ := sentryEvents(rs.sink, isPipelineEvent(silentMessage))
	recoveredBefore, _ := sentryEvents(rs.sink, isPipelineEvent(recoveredMessage))
	for _, am := range rs.ams {
		if !am.Kill() {
			t.Fatalf("%s (pid %d) had already exited", am.Name, am.PID())
		}
	}
	last := rs.heartbeatOf(t, 0).LastReceivedAt
	evs, arrived, err := waitSentryEvents(rs.sink, len(silentBefore)+1, heartbeatTimeout+detectionSlack+10*time.Second, isPipelineEvent(silentMessage))
	if err != nil {
		t.Fatal(err)
	}
	detected := arrived.Sub(last)
	time.Sleep(3 * time.Second) // both replicas check again, several times
	if now, _ := sentryEvents(rs.sink, isPipelineEvent(silentMessage)); len(now) != len(silentBefore)+1 {
		t.Errorf("%d \"alerting pipeline silent\" events for one outage seen by two replicas, want 1", len(now)-len(silentBefore))
	}
	for i := range rs.replicas {
		if hb := rs.heartbeatOf(t, i); hb.State != ordersvc.HeartbeatSilent || hb.Outages != 1 {
			t.Errorf("%s: state %q, outages %d during the outage; want silent, 1", rs.replicas[i].Name, hb.State, hb.Outages)
		}
	}
	if detected < heartbeatTimeout || detected > heartbeatTimeout+detectionSlack {
		t.Errorf("two replicas: detected %s after the last heartbeat, want within [%s, %s]", detected, heartbeatTimeout, heartbeatTimeout+detectionSlack)
	}
	t.Logf("two replicas, both Alertmanagers killed: one silent event (%s), %s after the last heartbeat (floor %s, bound %s)",
		evs[len(evs)-1].Message, detected.Round(time.Millisecond), heartbeatTimeout, heartbeatTimeout+detectionSlack)
	for i := range rs.ams {
		rs.restartAlertmanager(t, i)
	}
	if _, _, err := waitSentryEvents(rs.sink, len(recoveredBefore)+1, alertTimeout, isPipelineEvent(recoveredMessage)); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second)
	if now, _ := sentryEvents(rs.sink, isPipelineEvent(recoveredMessage)); len(now) != len(recoveredBefore)+1 {
		t.Errorf("%d recovery events for one outage, want 1", len(now)-len(recoveredBefore))
	}
	for i := range rs.replicas {
		if hb := rs.heartbeatOf(t, i); hb.State != ordersvc.HeartbeatOK {
			t.Errorf("%s: state %q after the restart, want ok", rs.replicas[i].Name, hb.State)
		}
	}
	t.Logf("two replicas: Alertmanagers restarted, one recovery event, both replicas ok")
}

// heartbeatOf is GET /alerts/heartbeat on replica i.
func (rs *replicaStack) heartbeatOf(t *testing.T, i int) heartbeatState {
	t.Helper()
	var hb heartbeatState
	if err := getJSON(rs.replicas[i].URL+"/alerts/heartbeat", testkit.AdminToken, &hb); err != nil {
		t.Fatalf("%s: %v", rs.replicas[i].Name, err)
	}
	return hb
}

// checkPostgresExporterSeries is checkExternalSeries for the series
// crossref.External takes from postgres_exporter, which only this stack
// runs: each must exist, in job postgres.
func (rs *replicaStack) checkPostgresExporterSeries(t *testing.T) {
	t.Helper()
	external := crossref.External()
	n := 0
	for _, name := range slices.Sorted(maps.Keys(external)) {
		if external[name] != crossref.PostgresExporter {
			continue
		}
		n++
		v, err := rs.promQuery(name + `{job="postgres"}`)
		if err != nil {
			t.Errorf("query %s: %v", name, err)
			continue
		}
		if len(v) == 0 {
			t.Errorf("crossref.External lists %s (%s), but Prometheus holds no such series in job postgres", name, external[name])
			continue
		}
		t.Logf("crossref.External: %s found in job postgres (%d series, instance %s, value %v)", name, len(v), v[0].Metric["instance"], v[0].Value[1])
	}
	if n == 0 {
		t.Errorf("crossref.External lists no %s series; the scale-out stack expects pg_up", crossref.PostgresExporter)
	}
}

// orderBody is a POST /orders body for one unit of product.
func orderBody(product string) []byte {
	return []byte(`{"product_id":` + strconv.Quote(product) + `,"quantity":1,"type":"online"}`)
}

// putProduct creates (or replaces) a product through replica i's admin API.
func (rs *replicaStack) putProduct(t *testing.T, i int, id string, stock int64) {
	t.Helper()
	body := fmt.Sprintf(`{"name":%q,"unit_price":1.5,"stock":%d}`, "replicas test "+id, stock)
	resp, err := rs.replicas[i].Admin(http.MethodPut, "/inventory/"+id, []byte(body))
	if err != nil || (resp.Status != http.StatusCreated && resp.Status != http.StatusOK) {
		t.Fatalf("PUT /inventory/%s on %s: %v %v", id, rs.replicas[i].Name, resp, err)
	}
}

// stock returns a product's stock as replica i's GET /inventory lists it.
func (rs *replicaStack) stock(t *testing.T, i int, id string) int64 {
	t.Helper()
	after := ""
	for range 100 { // pages of 1000: the test's catalog is a handful
		var page struct {
			Products []struct {
				ID    string `json:"product_id"`
				Stock int64  `json:"stock"`
			} `json:"products"`
			Next string `json:"next"`
		}
		q := "/inventory?limit=1000"
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		if err := getJSON(rs.replicas[i].URL+q, "", &page); err != nil {
			t.Fatalf("%s: %v", rs.replicas[i].Name, err)
		}
		for _, p := range page.Products {
			if p.ID == id {
				return p.Stock
			}
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	t.Fatalf("%s: GET /inventory does not list %s", rs.replicas[i].Name, id)
	return 0
}

// ordersCreated returns orders_created_total summed over every type and
// both replicas, scraped from each.
func (rs *replicaStack) ordersCreated(t *testing.T) float64 {
	t.Helper()
	var sum float64
	for _, r := range rs.replicas {
		f := testkit.Scrape(t, r.URL+"/metrics")["orders_created_total"]
		if f == nil {
			t.Fatalf("%s exports no orders_created_total", r.Name)
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// raceStock sends n orders of one unit at once, alternating replicas,
// for a product with stock units: exactly stock must be created and the
// rest refused with 409, leaving the stock at 0 as both replicas see it.
func (rs *replicaStack) raceStock(t *testing.T, n, stock int) {
	t.Helper()
	const product = "race-stock"
	rs.putProduct(t, 1, product, int64(stock))
	type answer struct {
		replica int
		status  int
		id      string
		err     error
	}
	answers := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start // all at once
			r := i % len(rs.replicas)
			resp, err := rs.replicas[r].Send(http.MethodPost, "/orders", orderBody(product))
			a := answer{replica: r, err: err}
			if err == nil {
				a.status = resp.Status
				var o orderID
				if resp.Status == http.StatusCreated && json.Unmarshal(resp.Body, &o) == nil {
					a.id = o.ID
				}
			}
			answers[i] = a
		}()
	}
	began := time.Now()
	close(start)
	wg.Wait()
	took := time.Since(began)

	byReplica := make([]map[int]int, len(rs.replicas))
	for i := range byReplica {
		byReplica[i] = map[int]int{}
	}
	total := map[int]int{}
	ids := map[string]bool{}
	for _, a := range answers {
		if a.err != nil {
			t.Errorf("order to %s: %v", rs.replicas[a.replica].Name, a.err)
			continue
		}
		byReplica[a.replica][a.status]++
		total[a.status]++
		if a.status == http.StatusCreated {
			if a.id == "" || ids[a.id] {
				t.Errorf("201 with a missing or repeated order id %q", a.id)
			}
			ids[a.id] = true
		}
	}
	left := []int64{rs.stock(t, 0, product), rs.stock(t, 1, product)}
	t.Logf("stock race: %d orders at once against stock %d in %s: %d created (201), %d refused (409), other %v; by replica: %s %v, %s %v; stock left %v (as replica 0 and 1 see it)",
		n, stock, took.Round(time.Millisecond), total[http.StatusCreated], total[http.StatusConflict], otherStatuses(total),
		rs.replicas[0].Name, byReplica[0], rs.replicas[1].Name, byReplica[1], left)
	if total[http.StatusCreated] != stock || total[http.StatusConflict] != n-stock || len(ids) != stock {
		t.Errorf("stock race: %d created (%d distinct ids) and %d refused, want exactly %d and %d", total[http.StatusCreated], len(ids), total[http.StatusConflict], stock, n-stock)
	}
	for _, m := range byReplica {
		if m[http.StatusCreated] == 0 {
			t.Errorf("stock race: a replica created no order (%v): the race was not spread over both", byReplica)
		}
	}
	if left[0] != 0 || left[1] != 0 {
		t.Errorf("stock race: stock left %v, want 0 on both", left)
	}
}

// orderID is the id of an order in an answer (the test needs nothing
// else of it).
type orderID struct {
	ID string `json:"id"`
}

// otherStatuses is the part of a status count that is neither 201 nor 409.
func otherStatuses(m map[int]int) map[int]int {
	out := map[int]int{}
	for k, v := range m {
		if k != http.StatusCreated && k != http.StatusConflict {
			out[k] = v
		}
	}
	return out
}

// raceIdempotency sends, for each of keys Idempotency-Keys, the same order
// with that key to both replicas at once (every key at the same moment):
// each key must give one order, both answers carrying its id and exactly
// one of them marked Idempotent-Replayed, and the stock must drop by one
// unit per key.
func (rs *replicaStack) raceIdempotency(t *testing.T, keys int) {
	t.Helper()
	const product, stock = "race-idem", 1000
	rs.putProduct(t, 0, product, stock)
	type answer struct {
		status   int
		id       string
		replayed bool
		err      error
	}
	answers := make([][]answer, keys)
	prefix := fmt.Sprintf("replicas-%d-", time.Now().UnixNano())
	start := make(chan struct{})
	var wg sync.WaitGroup
	for k := range keys {
		answers[k] = make([]answer, len(rs.replicas))
		for r := range rs.replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				resp, err := rs.replicas[r].Send(http.MethodPost, "/orders", orderBody(product), "Idempotency-Key", prefix+strconv.Itoa(k))
				a := answer{err: err}
				if err == nil {
					a.status = resp.Status
					a.replayed = resp.Header.Get("Idempotent-Replayed") == "true"
					var o orderID
					if json.Unmarshal(resp.Body, &o) == nil {
						a.id = o.ID
					}
				}
				answers[k][r] = a
			}()
		}
	}
	close(start)
	wg.Wait()

	ok, replayedOn := 0, make([]int, len(rs.replicas))
	for k, pair := range answers {
		replayed := 0
		for r, a := range pair {
			if a.err != nil || a.status != http.StatusCreated || a.id == "" || a.id != pair[0].id {
				t.Errorf("key %d: %s answered %d id %q (%v); %s answered id %q", k, rs.replicas[r].Name, a.status, a.id, a.err, rs.replicas[0].Name, pair[0].id)
			}
			if a.replayed {
				replayed++
				replayedOn[r]++
			}
		}
		if replayed != len(pair)-1 {
			t.Errorf("key %d: %d of %d answers marked Idempotent-Replayed, want exactly %d", k, replayed, len(pair), len(pair)-1)
			continue
		}
		ok++
	}
	left := rs.stock(t, 1, product)
	t.Logf("idempotency race: %d keys, each sent to both replicas at once: %d keys gave one order (same id in both answers, one replayed); replays answered by %s %d, %s %d; stock %d → %d",
		keys, ok, rs.replicas[0].Name, replayedOn[0], rs.replicas[1].Name, replayedOn[1], stock, left)
	if left != stock-int64(keys) {
		t.Errorf("idempotency race: stock %d after %d keys, want %d (one unit per key)", left, keys, stock-keys)
	}
}

// storedAlertsAt returns what replica r's GET /alerts lists.
func storedAlertsAt(r *testkit.ServiceProc) ([]ordersvc.Alert, error) {
	var out struct {
		Alerts []ordersvc.Alert `json:"alerts"`
	}
	err := getJSON(r.URL+"/alerts?limit=500", testkit.AdminToken, &out)
	return out.Alerts, err
}

// checkAlertsStoredOnce asserts that GET /alerts on each of replicas lists
// every alert (fingerprint + startsAt, within a second) once, and that all
// list the same alerts: they share one store, and both Alertmanagers
// deliver every notification to every replica.
func (rs *replicaStack) checkAlertsStoredOnce(t *testing.T, replicas []*testkit.ServiceProc) {
	t.Helper()
	var first []string
	for i, r := range replicas {
		alerts, err := storedAlertsAt(r)
		if err != nil {
			t.Errorf("%s: %v", r.Name, err)
			continue
		}
		slices.SortFunc(alerts, func(a, b ordersvc.Alert) int {
			if c := strings.Compare(a.Fingerprint, b.Fingerprint); c != 0 {
				return c
			}
			return a.StartsAt.Compare(b.StartsAt)
		})
		var keys, lines []string
		episodes := map[string]int{}
		var deliveries int64
		for j, a := range alerts {
			if j > 0 && a.Fingerprint == alerts[j-1].Fingerprint && a.StartsAt.Sub(alerts[j-1].StartsAt) < time.Second {
				t.Errorf("%s: alert %s %s stored twice: startsAt %s and %s", r.Name, a.Labels["alertname"], a.Fingerprint, alerts[j-1].StartsAt, a.StartsAt)
			}
			episodes[a.Fingerprint]++
			deliveries += a.Deliveries
			keys = append(keys, a.Fingerprint+"@"+a.StartsAt.UTC().Format(time.RFC3339Nano))
			lines = append(lines, fmt.Sprintf("    %-16s %s  startsAt %s  %-8s  deliveries %3d  %s", a.Labels["alertname"], a.Fingerprint,
				a.StartsAt.Format(time.TimeOnly), a.Status, a.Deliveries, labelsBrief(a.Labels)))
		}
		repeated := 0
		for _, n := range episodes {
			if n > 1 {
				repeated++
			}
		}
		// A fingerprint may fire, resolve and fire again (HighErrorRate
		// during the outage, on the 503s): each episode is its own record.
		t.Logf("%s GET /alerts: %d records, %d fingerprints (%d with more than one firing episode), %d deliveries absorbed into them:\n%s",
			r.Name, len(alerts), len(episodes), repeated, deliveries, strings.Join(lines, "\n"))
		if len(alerts) == 0 {
			t.Errorf("%s: GET /alerts lists nothing", r.Name)
		}
		if i == 0 {
			first = keys
		} else if !slices.Equal(keys, first) {
			t.Errorf("%s lists alerts %v, %s %v: the replicas disagree", r.Name, keys, replicas[0].Name, first)
		}
	}
	// Both replicas took deliveries: the Alertmanagers post to both URLs.
	// (alerts_received_total counts new alert states, once, on whichever
	// replica stored them first; the webhook's requests count every one.)
	for _, r := range replicas {
		hooks := map[string]float64{}
		for _, m := range testkit.Scrape(t, r.URL+"/metrics")["http_requests_total"].GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			if labels["endpoint"] == "/webhooks/alertmanager" && m.GetCounter().GetValue() > 0 {
				hooks[labels["status_code"]] += m.GetCounter().GetValue()
			}
		}
		t.Logf("%s: webhook notifications taken, by status: %v", r.Name, hooks)
		accepted := 0.0
		for code, n := range hooks {
			if strings.HasPrefix(code, "2") {
				accepted += n
			}
		}
		if accepted == 0 {
			t.Errorf("%s accepted no webhook notification (%v): the Alertmanagers do not deliver to it", r.Name, hooks)
		}
	}
}

// labelsBrief is an alert's labels without alertname and the annotations'
// boilerplate, for the stored-alert table.
func labelsBrief(l map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(l)) {
		if k != "alertname" {
			parts = append(parts, k+"="+l[k])
		}
	}
	return strings.Join(parts, " ")
}

// waitPromAlert waits until Prometheus holds an alert called name in state
// (pending or firing) whose labels include want, and returns it.
func (rs *replicaStack) waitPromAlert(t *testing.T, name, state string, want map[string]string, timeout time.Duration) promAlert {
	t.Helper()
	var found promAlert
	testkit.WaitFor(t, fmt.Sprintf("%s %v %s in Prometheus", name, want, state), timeout, func() (bool, string) {
		alerts, err := rs.promAlerts()
		if err != nil {
			return false, err.Error()
		}
		var seen []string
		for _, a := range alerts {
			seen = append(seen, fmt.Sprintf("%s/%s%v", a.Labels["alertname"], a.State, a.Labels))
			if a.Labels["alertname"] != name || a.State != state {
				continue
			}
			match := true
			for k, v := range want {
				match = match && a.Labels[k] == v
			}
			if match {
				found = a
				return true, ""
			}
		}
		return false, "prometheus alerts: " + strings.Join(seen, " ")
	})
	return found
}

// waitPromInactive waits until Prometheus holds no alert of names, pending
// or firing.
func (rs *replicaStack) waitPromInactive(t *testing.T, timeout time.Duration, names ...string) {
	t.Helper()
	testkit.WaitFor(t, strings.Join(names, ", ")+" inactive in Prometheus", timeout, func() (bool, string) {
		alerts, err := rs.promAlerts()
		if err != nil {
			return false, err.Error()
		}
		var active []string
		for _, a := range alerts {
			if slices.Contains(names, a.Labels["alertname"]) {
				active = append(active, a.Labels["alertname"]+"/"+a.State)
			}
		}
		return len(active) == 0, "still active: " + strings.Join(active, " ")
	})
}

// promScalar runs an instant query expected to return at most one series
// and returns its value (ok false when it returns none).
func (rs *replicaStack) promScalar(q string) (v float64, ok bool, err error) {
	res, err := rs.promQuery(q)
	if err != nil || len(res) == 0 {
		return 0, false, err
	}
	if len(res) > 1 {
		return 0, false, fmt.Errorf("query %q: %d series, want at most 1", q, len(res))
	}
	s, _ := res[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	return v, err == nil, err
}

// setFaultsOn sets fault injection on replica i only.
func (rs *replicaStack) setFaultsOn(t *testing.T, i int, body string) {
	t.Helper()
	resp, err := rs.replicas[i].Admin(http.MethodPut, "/admin/faults", []byte(body))
	if err != nil || resp.Status != http.StatusOK {
		t.Fatalf("PUT /admin/faults %s on %s: %v %v", body, rs.replicas[i].Name, resp, err)
	}
}

// errorRateWindow is HighErrorRate's 5m window as fastRules shrinks it,
// in PromQL syntax.
var errorRateWindow = strconv.Itoa(int(shrink(5*time.Minute, minWindow).Seconds())) + "s"

// errorRate proves that HighErrorRate is a job-wide ratio: with equal
// traffic on both replicas, faults on one replica only fire it when that
// replica's error rate, halved, is above 5%, and not when it is below.
func (rs *replicaStack) errorRate(t *testing.T) {
	t.Helper()
	gens := make([]*traffic, len(rs.replicas))
	for i, r := range rs.replicas {
		gens[i] = startReadTraffic(t, r.URL, uint64(i+1))
	}
	defer func() {
		for i, g := range gens {
			g.stop()
			t.Logf("read traffic on %s:\n%s", rs.replicas[i].Name, g.summary())
		}
	}()
	// Wait until the job-wide ratio has a full window of both replicas'
	// traffic: the minimum-traffic guard holds, and the first answer of a
	// fault is not measured against a half-empty window.
	jobRatio := `job:http_requests_errors:ratio_rate5m{job="ordersvc"}`
	instRatio := fmt.Sprintf(`sum by (instance) (rate(http_requests_total{job="ordersvc", status_code=~"5.."}[%[1]s])) / sum by (instance) (rate(http_requests_total{job="ordersvc"}[%[1]s]))`, errorRateWindow)
	window, _ := time.ParseDuration(errorRateWindow)
	time.Sleep(window)
	testkit.WaitFor(t, "the job-wide error ratio is recorded", alertTimeout, func() (bool, string) {
		v, ok, err := rs.promScalar(jobRatio)
		return ok && err == nil, fmt.Sprintf("%v %v %v", v, ok, err)
	})

	// Below the threshold: error_rate 0.04 on replica 0 is ~4% there and
	// ~2% of the job. Watched for a window, the rule's `for` and margin.
	rs.setFaultsOn(t, 0, `{"error_rate": 0.04}`)
	observe := window + 4*time.Second + 10*time.Second
	faultsAt := time.Now()
	var jobMax, jobSum float64
	var samples, pending int
	inst := map[string]float64{}
	for time.Since(faultsAt) < observe {
		time.Sleep(time.Second)
		alerts, err := rs.promAlerts()
		if err != nil {
			t.Fatalf("prometheus alerts: %v", err)
		}
		for _, a := range alerts {
			if a.Labels["alertname"] != "HighErrorRate" {
				continue
			}
			if a.State == "firing" {
				t.Fatalf("HighErrorRate fired %s after error_rate 0.04 on %s only (value %s): the job-wide ratio is ~2%%, below 5%%",
					time.Since(faultsAt).Round(time.Second), rs.replicas[0].Name, a.Value)
			}
			pending++
		}
		if time.Since(faultsAt) < window {
			continue // the window still holds answers from before the fault
		}
		if v, ok, err := rs.promScalar(jobRatio); ok && err == nil {
			jobMax, jobSum, samples = max(jobMax, v), jobSum+v, samples+1
		}
		if res, err := rs.promQuery(instRatio); err == nil {
			for _, smp := range res {
				f, _ := strconv.ParseFloat(fmt.Sprint(smp.Value[1]), 64)
				inst[smp.Metric["instance"]] = f
			}
		}
	}
	if samples == 0 {
		t.Fatal("error_rate 0.04: no job-wide ratio recorded while watching")
	}
	t.Logf("error_rate 0.04 on %s only, watched %s: job-wide 5xx ratio mean %.2f%%, max %.2f%% (threshold 5%%); per instance at the end %s; HighErrorRate never fired (pending in %d evaluations)",
		rs.replicas[0].Name, observe, 100*jobSum/float64(samples), 100*jobMax, percents(inst), pending)
	if jobSum/float64(samples) < 0.005 {
		t.Errorf("error_rate 0.04: the job-wide ratio averaged %.2f%%; the faults did not take effect", 100*jobSum/float64(samples))
	}

	// Above: error_rate 0.2 on replica 0 is ~20% there and ~10% of the job.
	rs.setFaultsOn(t, 0, `{"error_rate": 0.2}`)
	faultsAt = time.Now()
	her := rs.waitPromAlert(t, "HighErrorRate", "firing", map[string]string{"job": "ordersvc"}, alertTimeout)
	firedAfter := time.Since(faultsAt)
	res, err := rs.promQuery(instRatio)
	if err != nil {
		t.Fatal(err)
	}
	clear(inst)
	for _, smp := range res {
		f, _ := strconv.ParseFloat(fmt.Sprint(smp.Value[1]), 64)
		inst[smp.Metric["instance"]] = f
	}
	value, _ := strconv.ParseFloat(her.Value, 64)
	t.Logf("error_rate 0.2 on %s only: HighErrorRate firing after %s, value %.2f%% (job-wide), labels %v; per instance %s",
		rs.replicas[0].Name, firedAfter.Round(time.Millisecond), 100*value, her.Labels, percents(inst))
	if _, ok := her.Labels["instance"]; ok {
		t.Errorf("HighErrorRate carries an instance label %v: it must aggregate across instances", her.Labels)
	}
	if inst[rs.instance(1)] != 0 {
		t.Errorf("%s answered 5xx (ratio %v) without faults", rs.replicas[1].Name, inst[rs.instance(1)])
	}
	stored := rs.waitStored(t, "HighErrorRate", ordersvc.AlertFiring, alertTimeout)
	t.Logf("HighErrorRate stored by the webhooks (receiver %s, fingerprint %s, %d deliveries so far)", stored.Receiver, stored.Fingerprint, stored.Deliveries)
	rs.waitForwardedAlert(t, "HighErrorRate", stored)

	rs.setFaultsOn(t, 0, `{}`)
	offAt := time.Now()
	resolved := rs.waitStoredFunc(t, "HighErrorRate "+stored.Fingerprint+" resolved", resolveTimeout, func(a ordersvc.Alert) bool {
		return a.Fingerprint == stored.Fingerprint && a.StartsAt.Equal(stored.StartsAt) && a.Status == ordersvc.AlertResolved
	})
	t.Logf("HighErrorRate resolved in the store %s after the faults were turned off (%d deliveries)", resolved.LastReceivedAt.Sub(offAt).Round(time.Millisecond), resolved.Deliveries)
	rs.checkForwardedOnce(t, "HighErrorRate")
}

// percents formats instance → ratio as percentages.
func percents(m map[string]float64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %.2f%%", k, 100*m[k]))
	}
	return strings.Join(parts, ", ")
}

// probeOrder sends one POST /orders and returns the status and
// Content-Type of the answer, or 0 and the error of a request that got
// none.
func probeOrder(r *testkit.ServiceProc, product string) (int, string) {
	resp, err := r.Send(http.MethodPost, "/orders", orderBody(product))
	if err != nil {
		return 0, err.Error()
	}
	return resp.Status, resp.Header.Get("Content-Type")
}

// dbUp returns a replica's db_up, scraped.
func dbUp(r *testkit.ServiceProc) (float64, error) {
	fams, err := testkit.ScrapeFamilies(r.URL + "/metrics")
	if err != nil {
		return 0, err
	}
	f := fams["db_up"]
	if f == nil || len(f.GetMetric()) != 1 {
		return 0, fmt.Errorf("%s: no db_up gauge", r.Name)
	}
	return f.GetMetric()[0].GetGauge().GetValue(), nil
}

// databaseOutage stops PostgreSQL under both replicas and starts it again.
// While it is down both must answer POST /orders with 503 (never 500),
// report db_up 0 and stay scraped; DatabaseDown and PostgresDown must
// fire (PostgresDown inhibiting DatabaseDown in Alertmanager). Once it is
// back both must take orders again, db_up 1, with no restart, and the
// alerts resolve.
func (rs *replicaStack) databaseOutage(t *testing.T) {
	t.Helper()
	const product = "sku-4"
	if err := rs.pg.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	stoppedAt := time.Now()
	t.Logf("PostgreSQL stopped (fast shutdown) at %s", stoppedAt.Format(time.TimeOnly))
	restarted := false
	defer func() {
		if !restarted { // so that the cleanups can drop the database
			_ = rs.pg.Restart(context.Background())
		}
	}()

	statuses := map[int]int{}
	for _, r := range rs.replicas {
		var code int
		var detail string
		d := testkit.WaitFor(t, r.Name+" answers POST /orders with 503", outageTimeout, func() (bool, string) {
			code, detail = probeOrder(r, product)
			statuses[code]++
			if code == http.StatusInternalServerError {
				t.Errorf("%s answered POST /orders with 500 while the database was down, want 503", r.Name)
			}
			return code == http.StatusServiceUnavailable, fmt.Sprintf("%d %s", code, detail)
		})
		if !strings.HasPrefix(detail, "application/problem+json") {
			t.Errorf("%s: the 503 has Content-Type %q, want application/problem+json", r.Name, detail)
		}
		testkit.WaitFor(t, r.Name+" db_up 0", outageTimeout, func() (bool, string) {
			v, err := dbUp(r)
			return err == nil && v == 0, fmt.Sprintf("db_up %v %v", v, err)
		})
		resp, err := r.Send(http.MethodGet, "/readyz", nil)
		if err != nil || resp.Status != http.StatusServiceUnavailable {
			t.Errorf("%s /readyz with the database down: %v %v, want 503", r.Name, resp, err)
		}
		t.Logf("%s: POST /orders 503 %s after the stop (answers so far %v), db_up 0, /readyz 503", r.Name, d.Round(time.Millisecond), statuses)
	}
	rs.waitPromFiring(t, "DatabaseDown", "PostgresDown")
	t.Logf("DatabaseDown and PostgresDown firing in Prometheus %s after the stop", time.Since(stoppedAt).Round(time.Millisecond))
	if v, err := rs.promQuery(`db_up{job="ordersvc"} == 0`); err != nil || len(v) != len(rs.replicas) {
		t.Errorf("Prometheus holds db_up 0 for %d instances (%v), want %d", len(v), err, len(rs.replicas))
	}
	if pgUp, ok, err := rs.promScalar(`pg_up{job="postgres"}`); err != nil || !ok || pgUp != 0 {
		t.Errorf(`pg_up{job="postgres"} = %v (found %v, %v), want 0`, pgUp, ok, err)
	}
	if up, err := rs.promQuery(`up{job="ordersvc"} == 1`); err != nil || len(up) != len(rs.replicas) {
		t.Errorf("with the database down, %d of %d replicas are scraped (%v): /metrics must answer without the store", len(up), len(rs.replicas), err)
	}
	// The cause pages; the symptom is inhibited (alertmanager.yml).
	for i := range rs.amURLs {
		testkit.WaitFor(t, fmt.Sprintf("DatabaseDown suppressed by PostgresDown in alertmanager-%d", i), alertTimeout, func() (bool, string) {
			alerts, err := rs.amAlerts(i)
			if err != nil {
				return false, err.Error()
			}
			var seen []string
			for _, a := range alerts {
				if a.Labels["alertname"] == "DatabaseDown" && a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0 {
					return true, ""
				}
				seen = append(seen, a.Labels["alertname"]+"/"+a.Status.State)
			}
			return false, "alertmanager alerts: " + strings.Join(seen, " ")
		})
	}
	t.Logf("both Alertmanagers: DatabaseDown suppressed, inhibited by PostgresDown")
	// Still 503, never 500, after a while down.
	for _, r := range rs.replicas {
		if code, detail := probeOrder(r, product); code != http.StatusServiceUnavailable {
			t.Errorf("%s: POST /orders %s after the stop: %d %s, want 503", r.Name, time.Since(stoppedAt).Round(time.Second), code, detail)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), pgtest.StartTimeout)
	defer cancel()
	if err := rs.pg.Restart(ctx); err != nil {
		t.Fatalf("restart PostgreSQL: %v", err)
	}
	restarted = true
	startedAt := time.Now()
	t.Logf("PostgreSQL started again %s after the stop", startedAt.Sub(stoppedAt).Round(time.Millisecond))
	for _, r := range rs.replicas {
		d := testkit.WaitFor(t, r.Name+" takes orders again", outageTimeout, func() (bool, string) {
			code, detail := probeOrder(r, product)
			if code == http.StatusInternalServerError {
				t.Errorf("%s answered POST /orders with 500 during the recovery", r.Name)
			}
			return code == http.StatusCreated, fmt.Sprintf("%d %s", code, detail)
		})
		testkit.WaitFor(t, r.Name+" db_up 1", outageTimeout, func() (bool, string) {
			v, err := dbUp(r)
			return err == nil && v == 1, fmt.Sprintf("db_up %v %v", v, err)
		})
		r.WaitReady(t, r.URL+"/readyz", outageTimeout)
		t.Logf("%s (pid %d, not restarted): POST /orders 201 again %s after PostgreSQL started, db_up 1, /readyz 200", r.Name, r.PID(), d.Round(time.Millisecond))
	}
	rs.waitPromInactive(t, resolveTimeout, "DatabaseDown", "PostgresDown")
	t.Logf("DatabaseDown and PostgresDown inactive in Prometheus %s after PostgreSQL started", time.Since(startedAt).Round(time.Millisecond))
	// Whether PostgresDown also reaches the store is a race, and not a
	// defect: the store is what is down while it fires, so every webhook
	// delivery of it is refused (503, retried); Alertmanager sends a
	// resolved notification only for an alert whose firing one got
	// through. So it is reported, not required.
	_, err := testkit.Poll(20*time.Second, func() (bool, string) {
		alerts, err := rs.storedAlerts()
		if err != nil {
			return false, err.Error()
		}
		for _, a := range alerts {
			if a.Labels[ordersvc.AlertLabelName] == "PostgresDown" {
				return true, ""
			}
		}
		return false, "not stored"
	})
	t.Logf("PostgresDown in GET /alerts after the outage: stored %v (its deliveries during the outage were refused with 503)", err == nil)
}

// stopOneReplica sends SIGTERM to the last replica while a failover client
// places orders over all of them: the stopped replica drains (readiness
// 503 for SHUTDOWN_DELAY, still serving) and exits, TargetDown fires for
// its instance and reaches the webhook of the replica left, and no client
// request fails.
func (rs *replicaStack) stopOneReplica(t *testing.T) {
	t.Helper()
	const product, stock = "failover", 100000
	rs.putProduct(t, 0, product, stock)
	victim := len(rs.replicas) - 1
	v := rs.replicas[victim]
	fc := startFailoverClient(t, rs.replicas, product)
	defer fc.stop()
	time.Sleep(2 * time.Second) // traffic on both before the signal

	readyz := watchReadyz(v)
	time.Sleep(300 * time.Millisecond) // a few answers from before the signal
	before := fc.snapshot()
	if err := v.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM %s: %v", v.Name, err)
	}
	signalledAt := time.Now()
	select {
	case <-v.Done():
	case <-time.After(shutdownDelay + 30*time.Second):
		t.Fatalf("%s did not exit within %s of SIGTERM", v.Name, shutdownDelay+30*time.Second)
	}
	exitedAfter := time.Since(signalledAt)
	if err := v.Stop(); err != nil { // the exit status, now that it exited
		t.Errorf("%s did not exit cleanly on SIGTERM: %v", v.Name, err)
	}
	atExit := fc.snapshot()
	seen := readyz()
	t.Logf("%s (pid %d) exited %s after SIGTERM; served %d orders while draining; /readyz answers seen meanwhile: %s",
		v.Name, v.PID(), exitedAfter.Round(time.Millisecond), atExit.served[victim]-before.served[victim], strings.Join(seen, " → "))
	if !slices.Contains(seen, "503") {
		t.Errorf("%s never answered /readyz 503 while draining (seen %v)", v.Name, seen)
	}
	if v.JSONLogLine("draining: readiness answers 503") == nil {
		t.Errorf("%s did not log the drain", v.Name)
	}

	ta := rs.waitPromAlert(t, "TargetDown", "firing", map[string]string{"job": "ordersvc", "instance": rs.instance(victim)}, alertTimeout)
	t.Logf("TargetDown firing in Prometheus for %s %s after SIGTERM (labels %v)", rs.instance(victim), time.Since(signalledAt).Round(time.Millisecond), ta.Labels)
	stored := rs.waitStoredFunc(t, "TargetDown for "+rs.instance(victim)+" in GET /alerts", alertTimeout, func(a ordersvc.Alert) bool {
		return a.Labels["alertname"] == "TargetDown" && a.Labels["instance"] == rs.instance(victim) && a.Status == ordersvc.AlertFiring
	})
	t.Logf("TargetDown stored by %s's webhook %s after SIGTERM (receiver %s)", rs.replicas[0].Name, stored.FirstReceivedAt.Sub(signalledAt).Round(time.Millisecond), stored.Receiver)
	if alerts, err := rs.promAlerts(); err == nil {
		for _, a := range alerts {
			if a.Labels["alertname"] == "TargetDown" && a.Labels["instance"] != rs.instance(victim) {
				t.Errorf("TargetDown %s for %s, which still runs", a.State, a.Labels["instance"])
			}
		}
	}

	st := fc.stop()
	t.Logf("failover client: %s", st)
	if len(st.failures) > 0 {
		t.Errorf("%d client requests failed on every replica: %v", len(st.failures), st.failures[:min(len(st.failures), 10)])
	}
	if st.created == 0 || atExit.served[0] == before.served[0] {
		t.Errorf("the failover client placed no orders on %s around the stop: %s", rs.replicas[0].Name, st)
	}
	if left := rs.stock(t, 0, product); left != stock-int64(st.created) {
		t.Errorf("stock of %s is %d after %d orders, want %d: a retry doubled or lost an order", product, left, st.created, stock-st.created)
	}
}

// watchReadyz polls r's /readyz every 100ms until r exits (or 60s pass)
// and returns a function that waits for the polling to end and returns
// the distinct answers in order ("200", "503", "refused", …).
func watchReadyz(r *testkit.ServiceProc) func() []string {
	var seen []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		client := &http.Client{Timeout: time.Second}
		deadline := time.Now().Add(60 * time.Second)
		for time.Now().Before(deadline) {
			// Once the process has exited, one last poll: the closed port.
			last := r.Exited()
			what := "no answer"
			if resp, err := client.Get(r.URL + "/readyz"); err == nil {
				_ = resp.Body.Close()
				what = strconv.Itoa(resp.StatusCode)
			} else if strings.Contains(err.Error(), "connection refused") {
				what = "refused"
			}
			if len(seen) == 0 || seen[len(seen)-1] != what {
				seen = append(seen, what)
			}
			if last {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	return func() []string {
		<-done
		return seen
	}
}

// startReadTraffic is internal/loadgen reading from one replica at a
// steady open-loop rate (GET /inventory, /reports/summary, /orders/<id>):
// the same rate on every replica keeps the load balanced, so a fault on
// one replica weighs exactly half in the job-wide ratio. No orders, so no
// stock is used up.
func startReadTraffic(t testing.TB, baseURL string, seed uint64) *traffic {
	t.Helper()
	u, err := url.Parse(baseURL)
	if err != nil {
		t.Fatalf("read traffic: service URL: %v", err)
	}
	gen, err := loadgen.Start(context.Background(), loadgen.Options{
		BaseURL:  u,
		Rate:     readTrafficRate,
		Duration: 3 * time.Minute,
		Requests: 3 * 60 * readTrafficRate,
		Timeout:  requestTimeout,
		Mix:      loadgen.Mix{loadgen.KindRead: 1},
		Seed:     seed,
	})
	if err != nil {
		t.Fatalf("read traffic: %v", err)
	}
	tr := &traffic{gen: gen}
	t.Cleanup(tr.stop)
	return tr
}

// readTrafficRate is each replica's read rate (requests/s) while the
// error-rate phase runs: 250 requests per replica in the fast rules' 10s
// window, so that error_rate 0.04 on one replica (~10 errors of 500, 2%)
// crosses 5% (25 errors) with a chance far below one in a thousand.
const readTrafficRate = 25

// clientStats are what a failoverClient saw.
type clientStats struct {
	requests int            // client requests (each may take several attempts)
	created  int            // answered 201 by some replica
	replayed int            // of which an Idempotent-Replayed answer to a retry
	served   []int          // 201s by replica
	retries  map[string]int // attempts retried on another replica, by replica and reason
	failures []string       // requests no replica accepted
	took     time.Duration
}

func (s clientStats) String() string {
	var retries []string
	for _, k := range slices.Sorted(maps.Keys(s.retries)) {
		retries = append(retries, fmt.Sprintf("%s ×%d", k, s.retries[k]))
	}
	return fmt.Sprintf("%d requests in %s, %d created (by replica %v, %d replayed after a retry), %d failed; retried elsewhere: %s",
		s.requests, s.took.Round(time.Millisecond), s.created, s.served, s.replayed, len(s.failures), strings.Join(retries, ", "))
}

// failoverClient places orders of one unit round-robin over the
// replicas, as a client behind a load balancer that retries elsewhere
// would: a connection error or a 503 from one replica is retried, with the
// same Idempotency-Key (so that a retry can never double an order), on the
// next. A request fails only when no replica accepted it, or when one
// answered anything but 201 or 503.
type failoverClient struct {
	mu    sync.Mutex
	stats clientStats
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	start time.Time
}

// Bounds of the failover client: workers, pause between requests, and
// the most requests and time it runs whatever the test does.
const (
	failoverWorkers     = 4
	failoverPause       = 40 * time.Millisecond
	failoverMaxRequests = 5000
	failoverMaxDuration = 2 * time.Minute
)

// startFailoverClient starts the client; it is stopped when the test ends
// or by stop.
func startFailoverClient(t testing.TB, replicas []*testkit.ServiceProc, product string) *failoverClient {
	fc := &failoverClient{quit: make(chan struct{}), done: make(chan struct{}), start: time.Now()}
	fc.stats.served = make([]int, len(replicas))
	fc.stats.retries = map[string]int{}
	client := &http.Client{Timeout: 5 * time.Second}
	prefix := fmt.Sprintf("failover-%d-", time.Now().UnixNano())
	var wg sync.WaitGroup
	var seq sync.Mutex
	next := 0
	for w := range failoverWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := fc.start.Add(failoverMaxDuration)
			for time.Now().Before(deadline) {
				select {
				case <-fc.quit:
					return
				case <-time.After(failoverPause):
				}
				seq.Lock()
				n := next
				next++
				seq.Unlock()
				if n >= failoverMaxRequests {
					return
				}
				fc.place(client, replicas, (w+n)%len(replicas), product, prefix+strconv.Itoa(n))
			}
		}()
	}
	go func() {
		wg.Wait()
		close(fc.done)
	}()
	t.Cleanup(func() { fc.stop() })
	return fc
}

// place sends one order, starting at replica first and moving on after a
// connection error or a 503.
func (fc *failoverClient) place(client *http.Client, replicas []*testkit.ServiceProc, first int, product, key string) {
	var last string
	for a := range replicas {
		r := (first + a) % len(replicas)
		req, err := http.NewRequest(http.MethodPost, replicas[r].URL+"/orders", strings.NewReader(string(orderBody(product))))
		if err != nil {
			last = err.Error()
			break
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := client.Do(req)
		reason := ""
		if err != nil {
			reason = "connection error"
			if strings.Contains(err.Error(), "connection refused") {
				reason = "connection refused"
			}
		} else {
			_ = resp.Body.Close()
			switch resp.StatusCode {
			case http.StatusCreated:
				fc.mu.Lock()
				fc.stats.requests++
				fc.stats.created++
				fc.stats.served[r]++
				if a > 0 && resp.Header.Get("Idempotent-Replayed") == "true" {
					fc.stats.replayed++
				}
				fc.mu.Unlock()
				return
			case http.StatusServiceUnavailable:
				reason = "503"
			default:
				last = fmt.Sprintf("%s answered %d", replicas[r].Name, resp.StatusCode)
				fc.fail(last)
				return
			}
		}
		last = fmt.Sprintf("%s: %s (%v)", replicas[r].Name, reason, err)
		fc.mu.Lock()
		fc.stats.retries[replicas[r].Name+" "+reason]++
		fc.mu.Unlock()
	}
	fc.fail("no replica accepted: last " + last)
}

func (fc *failoverClient) fail(why string) {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.stats.requests++
	fc.stats.failures = append(fc.stats.failures, why)
}

// snapshot returns the stats so far.
func (fc *failoverClient) snapshot() clientStats {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	s := fc.stats
	s.served = slices.Clone(s.served)
	s.retries = maps.Clone(s.retries)
	s.failures = slices.Clone(s.failures)
	s.took = time.Since(fc.start)
	return s
}

// stop ends the client, waits for its requests in flight (each bounded
// by its client's timeout, times the replicas) and returns its stats.
func (fc *failoverClient) stop() clientStats {
	fc.once.Do(func() { close(fc.quit) })
	<-fc.done
	return fc.snapshot()
}
