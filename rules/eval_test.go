package rules_test

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/model/timestamp"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/teststorage"
)

// epoch is minute 0 of every synthetic scenario. Samples are one minute
// apart, as if Prometheus scraped once a minute.
var epoch = time.Date(2025, 1, 6, 0, 0, 0, 0, time.UTC)

// at returns the time of minute m.
func at(m int) time.Time { return epoch.Add(time.Duration(m) * time.Minute) }

// windowMinutes maps the SLO windows to minutes.
var windowMinutes = map[string]int{
	"5m": 5, "30m": 30, "1h": 60, "2h": 120, "6h": 360, "1d": 1440, "3d": 4320,
}

// ruleHarness evaluates rule files with the Prometheus rule manager over
// synthetic series in a real TSDB, the way a Prometheus server does: raw
// samples are appended up to the evaluation time, then every rule group is
// evaluated in file order, and recording rules write their results back.
//
// What a single expression yields at one instant (the SLO ratios, the
// latency quantile, the dashboard queries) is tested at the PromQL level
// in rules/testdata/*.test (promql_test.go). The harness is kept for what
// PromQL tests cannot express: alerting rules that read recording rules
// over multi-day windows, which need the rule manager's sequential group
// evaluation (the recorded series written before the alerts read them, at
// every evaluation) and its `for` state carried from one evaluation to the
// next.
type ruleHarness struct {
	t      *testing.T
	db     *teststorage.TestStorage
	engine *promql.Engine
	groups []*rules.Group
	series []*syntheticSeries
	evals  int
}

// syntheticSeries is one raw series and its samples, one per minute from
// minute 0; NaN means "no sample in this minute".
type syntheticSeries struct {
	lset   labels.Labels
	values []float64
	next   int // first minute not yet appended
}

// newRuleHarness loads files (the repository's rule files unless a test
// passes mutated copies) into a fresh rule manager over an empty TSDB.
func newRuleHarness(t *testing.T, files []string) *ruleHarness {
	t.Helper()
	// Keep everything in the head block: no compaction while a scenario runs.
	db := teststorage.New(t, func(o *tsdb.Options) {
		o.MinBlockDuration = int64(10 * 24 * time.Hour / time.Millisecond)
		o.MaxBlockDuration = o.MinBlockDuration
	})
	engine := promql.NewEngine(promql.EngineOpts{
		MaxSamples: 50_000_000,
		Timeout:    time.Minute,
	})
	t.Cleanup(func() { _ = engine.Close() })
	mgr := rules.NewManager(&rules.ManagerOptions{
		QueryFunc:  rules.EngineQueryFunc(engine, db),
		Appendable: db,
		Queryable:  db,
		Context:    context.Background(),
		NotifyFunc: func(context.Context, string, ...*rules.Alert) {},
	})
	loaded, errs := mgr.LoadGroups(time.Minute, labels.EmptyLabels(), "", nil, false, files...)
	if len(errs) > 0 {
		t.Fatalf("load rule groups: %v", errs)
	}
	h := &ruleHarness{t: t, db: db, engine: engine}
	// Evaluate in file order, as promtool does, so that alerts see the
	// recording rules of the same evaluation time.
	for _, f := range files {
		rgs, perrs := rulefmt.ParseFile(f, false, model.UTF8Validation)
		if len(perrs) > 0 {
			t.Fatalf("parse %s: %v", f, perrs)
		}
		for _, g := range rgs.Groups {
			grp, ok := loaded[rules.GroupKey(f, g.Name)]
			if !ok {
				t.Fatalf("group %s of %s was not loaded", g.Name, f)
			}
			for _, r := range grp.Rules() {
				if ar, ok := r.(*rules.AlertingRule); ok {
					ar.SetRestored(true)
				}
			}
			h.groups = append(h.groups, grp)
		}
	}
	return h
}

// add registers a raw series with one value per minute from minute 0.
func (h *ruleHarness) add(lset labels.Labels, values []float64) {
	h.series = append(h.series, &syntheticSeries{lset: lset, values: values})
}

// appendUntil appends every raw sample up to and including minute m.
func (h *ruleHarness) appendUntil(m int) {
	h.t.Helper()
	app := h.db.Appender(context.Background())
	for _, s := range h.series {
		for ; s.next <= m && s.next < len(s.values); s.next++ {
			v := s.values[s.next]
			if math.IsNaN(v) {
				continue
			}
			if _, err := app.Append(0, s.lset, timestamp.FromTime(at(s.next)), v); err != nil {
				h.t.Fatalf("append %s at minute %d: %v", s.lset, s.next, err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		h.t.Fatalf("commit samples up to minute %d: %v", m, err)
	}
}

// eval appends the raw samples up to minute m and evaluates every group at
// minute m. A rule that fails to evaluate fails the test.
func (h *ruleHarness) eval(m int) {
	h.t.Helper()
	h.appendUntil(m)
	for _, g := range h.groups {
		g.Eval(context.Background(), at(m))
		for _, r := range g.Rules() {
			if err := r.LastError(); err != nil {
				h.t.Fatalf("minute %d: rule %s: %v", m, r.Name(), err)
			}
		}
	}
	h.evals++
}

// alerts returns the alerts of the named rule(s) in the given state, as
// "severity" → value (one alert per severity is all these scenarios have).
func (h *ruleHarness) alerts(name string, state rules.AlertState) map[string]float64 {
	h.t.Helper()
	out := map[string]float64{}
	for _, g := range h.groups {
		for _, ar := range g.AlertingRules() {
			if ar.Name() != name {
				continue
			}
			for _, a := range ar.ActiveAlerts() {
				if a.State != state {
					continue
				}
				sev := a.Labels.Get("severity")
				if _, dup := out[sev]; dup {
					h.t.Fatalf("%s: two %s alerts with severity %s: %v", name, state, sev, a.Labels)
				}
				out[sev] = a.Value
			}
		}
	}
	return out
}

// activeAlertNames lists every alert that is pending or firing.
func (h *ruleHarness) activeAlertNames() []string {
	var out []string
	for _, g := range h.groups {
		for _, ar := range g.AlertingRules() {
			for _, a := range ar.ActiveAlerts() {
				out = append(out, fmt.Sprintf("%s%s(%s)", ar.Name(), a.Labels, a.State))
			}
		}
	}
	sort.Strings(out)
	return out
}

// recordedNaNs scans every sample the recording rules wrote and returns the
// ones that are NaN (stale markers, which Prometheus writes when a series
// disappears, are not values and are skipped), and how many samples it saw.
func (h *ruleHarness) recordedNaNs() (nans []string, seen int) {
	h.t.Helper()
	q, err := h.db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		h.t.Fatalf("querier: %v", err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchRegexp, labels.MetricName, "job:.+"))
	for ss.Next() {
		s := ss.At()
		it := s.Iterator(nil)
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			if value.IsStaleNaN(v) {
				continue
			}
			seen++
			if math.IsNaN(v) || math.IsInf(v, 0) {
				nans = append(nans, fmt.Sprintf("%s@%s=%v", s.Labels(), timestamp.Time(ts).Sub(epoch), v))
			}
		}
		if err := it.Err(); err != nil {
			h.t.Fatalf("iterate %s: %v", s.Labels(), err)
		}
	}
	if err := ss.Err(); err != nil {
		h.t.Fatalf("select recorded series: %v", err)
	}
	return nans, seen
}

// minuteTraffic is what one instance served during one minute.
type minuteTraffic struct {
	ok, clientErr, serverErr float64
}

// total is every request of the minute.
func (m minuteTraffic) total() float64 { return m.ok + m.clientErr + m.serverErr }

// instance is one scrape target exporting http_requests_total.
type instance struct {
	job, name string
	// traffic returns what the instance served in minute m (m >= 1): the
	// increase of its counters between the samples of minutes m-1 and m.
	traffic func(m int) minuteTraffic
	// restart, if set, reports whether the process restarted during minute
	// m: its counters start again from zero and its sample of minute m
	// shows only that minute's requests.
	restart func(m int) bool
}

// baseline is every counter's value at minute 0, as after a long uptime. A
// non-zero start means no series is extrapolated differently from its
// siblings (rate() stops extrapolating at a counter's zero point), so the
// ratio of rates equals the ratio of increments exactly.
const baseline = 1000

// addInstances generates minutes 0..last of http_requests_total (201, 404
// and 500 series) and up for every instance.
func (h *ruleHarness) addInstances(last int, insts ...instance) {
	for _, in := range insts {
		job := in.job
		if job == "" {
			job = "ordersvc"
		}
		ok := make([]float64, last+1)
		cerr := make([]float64, last+1)
		serr := make([]float64, last+1)
		up := make([]float64, last+1)
		ok[0], cerr[0], serr[0], up[0] = baseline, baseline, baseline, 1
		for m := 1; m <= last; m++ {
			tr := in.traffic(m)
			if in.restart != nil && in.restart(m) {
				ok[m], cerr[m], serr[m] = tr.ok, tr.clientErr, tr.serverErr
			} else {
				ok[m], cerr[m], serr[m] = ok[m-1]+tr.ok, cerr[m-1]+tr.clientErr, serr[m-1]+tr.serverErr
			}
			up[m] = 1
		}
		series := func(method, endpoint, code string) labels.Labels {
			return labels.FromStrings(labels.MetricName, "http_requests_total", "job", job, "instance", in.name,
				"method", method, "endpoint", endpoint, "status_code", code)
		}
		h.add(series("POST", "/orders", "201"), ok)
		h.add(series("GET", "/orders/:id", "404"), cerr)
		h.add(series("POST", "/orders", "500"), serr)
		h.add(labels.FromStrings(labels.MetricName, "up", "job", job, "instance", in.name), up)
	}
}

// steady returns a traffic function serving n requests a minute of which
// the share serverErr answer 5xx and the share clientErr answer 4xx.
func steady(n, clientErr, serverErr float64) func(int) minuteTraffic {
	return func(int) minuteTraffic {
		return minuteTraffic{ok: n * (1 - clientErr - serverErr), clientErr: n * clientErr, serverErr: n * serverErr}
	}
}

// TestSilenceRaisesNoAlertAndRecordsNoNaN runs three hours of traffic
// followed by more than three days of silence (counters still scraped, not
// moving) through the rule manager: no alert but the heartbeat is ever
// active, and no sample any recording rule writes is NaN. The same scenario
// over rules without the `> 0` guard must record NaN, proving the scan can
// fail.
//
// What each window records at each moment (the ratio while the window holds
// traffic, no series once it holds none) is a PromQL-level fact, checked in
// rules/testdata/slo_no_traffic.test. This test stays on the rule manager
// for what promqltest cannot express: alerting rules reading the recorded
// series of the same evaluation, and every sample written over days.
func TestSilenceRaisesNoAlertAndRecordsNoNaN(t *testing.T) {
	const stop = 180 // the last minute with traffic
	const last = stop + 4320 + 60
	traffic := func(m int) minuteTraffic {
		if m > stop {
			return minuteTraffic{}
		}
		// 0.05% 5xx: half the error budget, so no burn alert either.
		return steady(1000, 0.05, 0.0005)(m)
	}
	// Evaluate around the moment each window loses its last increment: the
	// increment of minute `stop` is inside (T-w, T] while T <= stop+w-2.
	times := []int{1, 60, stop}
	for _, w := range sloWindows {
		n := windowMinutes[w]
		times = append(times, stop+n-2, stop+n-1)
	}
	times = append(times, last)
	slices.Sort(times)
	times = slices.Compact(times)

	cases := []struct {
		name    string
		mutate  func(string) string
		wantNaN bool
	}{
		{name: "rules as shipped"},
		{
			name: "mutant without the > 0 guard",
			mutate: func(s string) string {
				return strings.ReplaceAll(s, "])) > 0)", "])))")
			},
			wantNaN: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			files := ruleFiles(t)
			if tc.mutate != nil {
				files = mutatedCopies(t, files, tc.mutate)
			}
			h := newRuleHarness(t, files)
			h.addInstances(last, instance{name: "app-1:8080", traffic: traffic})
			for _, T := range times {
				h.eval(T)
				if tc.wantNaN {
					continue
				}
				if active := h.activeAlertNames(); len(active) != 1 || !strings.HasPrefix(active[0], "Watchdog{") {
					t.Errorf("minute %d: active alerts %v, want only Watchdog", T, active)
				}
			}
			nans, seen := h.recordedNaNs()
			if seen == 0 {
				t.Fatal("no recorded sample at all: the scan proves nothing")
			}
			if tc.wantNaN && len(nans) == 0 {
				t.Fatalf("the mutant recorded no NaN in %d samples: the check cannot fail", seen)
			}
			if !tc.wantNaN && len(nans) > 0 {
				t.Fatalf("recorded %d NaN/Inf samples of %d, e.g. %v", len(nans), seen, nans[:min(5, len(nans))])
			}
		})
	}
}

// mutatedCopies writes mutate(content) of every file into a temporary
// directory and returns the copies' paths.
func mutatedCopies(t *testing.T, files []string, mutate func(string) string) []string {
	t.Helper()
	dir := t.TempDir()
	var out []string
	for _, f := range files {
		orig := string(readFile(t, f))
		mutated := mutate(orig)
		if mutated == orig {
			t.Fatalf("the mutation does not change %s", f)
		}
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, []byte(mutated), 0o644); err != nil {
			t.Fatalf("write %s: %v", p, err)
		}
		out = append(out, p)
	}
	return out
}

// burnCheck is the expected ErrorBudgetBurn state at one minute: the
// firing alerts by severity and their value (the long window's burn rate).
type burnCheck struct {
	minute int
	firing map[string]float64
}

// TestErrorBudgetBurnScenarios runs the multi-window, multi-burn-rate alerts
// over days of synthetic traffic: which severity fires for which burn,
// that short incidents are diluted by full long windows, what little history
// does, that a page resolves with its short window, and that instance skew
// and restarts change nothing. It needs the rule manager (see ruleHarness):
// the burn alerts read the recorded ratios of the same evaluation and hold
// `for` state across minutes of evaluations.
func TestErrorBudgetBurnScenarios(t *testing.T) {
	const threeDays = 4380
	// burn returns steady traffic of 1000 req/min burning the 0.1% budget
	// f times over.
	burn := func(f float64) func(int) minuteTraffic { return steady(1000, 0, f*0.001) }
	// incident returns 1000 req/min with 2% errors in minutes (from, to].
	incident := func(from, to int) func(int) minuteTraffic {
		return func(m int) minuteTraffic {
			if m > from && m <= to {
				return steady(1000, 0, 0.02)(m)
			}
			return steady(1000, 0, 0)(m)
		}
	}
	app := func(tr func(int) minuteTraffic) []instance {
		return []instance{{name: "app-1:8080", traffic: tr}}
	}
	none := map[string]float64{}
	cases := []struct {
		name   string
		insts  []instance
		checks []burnCheck
	}{
		{
			name:   "20x for 3d: page and ticket",
			insts:  app(burn(20)),
			checks: []burnCheck{{threeDays, map[string]float64{"critical": 20, "warning": 20}}},
		},
		{
			name:   "12x for 3d: page through 6h/30m, not 1h/5m",
			insts:  app(burn(12)),
			checks: []burnCheck{{threeDays, map[string]float64{"critical": 12, "warning": 12}}},
		},
		{
			name:   "4x for 3d: ticket through 1d/2h",
			insts:  app(burn(4)),
			checks: []burnCheck{{threeDays, map[string]float64{"warning": 4}}},
		},
		{
			name:   "1.2x for 3d: ticket through 3d/6h",
			insts:  app(burn(1.2)),
			checks: []burnCheck{{threeDays, map[string]float64{"warning": 1.2}}},
		},
		{
			name:   "0.9x for 3d: within budget",
			insts:  app(burn(0.9)),
			checks: []burnCheck{{threeDays, none}},
		},
		{
			name:   "40-minute 2% incident after 3d clean: diluted by the long windows",
			insts:  app(incident(threeDays-40, threeDays)),
			checks: []burnCheck{{threeDays, none}},
		},
		{
			// With 2h of history every long window covers those 2h: 800
			// errors in 120000 requests = 6.67x, above 6x (page) and 3x
			// (ticket). Long windows shrink to the history that exists.
			name:   "the same incident with only 2h of history",
			insts:  app(incident(80, 120)),
			checks: []burnCheck{{120, map[string]float64{"critical": 800.0 / 120000 / 0.001, "warning": 800.0 / 120000 / 0.001}}},
		},
		{
			// 2h of 2% errors ending at minute 4320. During the incident the
			// 1h/5m condition pages (20x); ten minutes after it the 6h/30m
			// condition still holds (6h: 2400/359000); 21 minutes after it
			// the 30m window falls under 6x and the page resolves although
			// the 6h window still shows 6.7x.
			name:  "a page resolves with its short window",
			insts: app(incident(4200, 4320)),
			checks: []burnCheck{
				{4319, map[string]float64{"critical": 20}},
				{4330, map[string]float64{"critical": 2400.0 / 359000 / 0.001}},
				{4340, map[string]float64{"critical": 2400.0 / 359000 / 0.001}},
				{4341, none},
			},
		},
		{
			name: "busy healthy instance and quiet failing instance: 5/1005, not 50%",
			insts: []instance{
				{name: "app-1:8080", traffic: steady(1000, 0, 0)},
				{name: "app-2:8080", traffic: steady(5, 0, 1)},
			},
			checks: []burnCheck{{threeDays, map[string]float64{"warning": 5.0 / 1005 / 0.001}}},
		},
		{
			name: "restarts every 30 minutes during a 5x burn",
			insts: []instance{
				{name: "app-1:8080", traffic: burn(5), restart: func(m int) bool { return m%30 == 7 }},
				{name: "app-2:8080", traffic: burn(5), restart: func(m int) bool { return m%45 == 11 }},
			},
			checks: []burnCheck{{threeDays, map[string]float64{"warning": 5}}},
		},
		{
			name:   "half the requests are 4xx, none 5xx",
			insts:  app(steady(1000, 0.5, 0)),
			checks: []burnCheck{{threeDays, none}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newRuleHarness(t, ruleFiles(t))
			last := tc.checks[len(tc.checks)-1].minute
			h.addInstances(last, tc.insts...)
			// 20 evaluations before the first check cover the longest `for`
			// (15m); the ratios themselves need no evaluation history.
			next := 0
			for m := tc.checks[0].minute - 20; m <= last; m++ {
				h.eval(m)
				if m != tc.checks[next].minute {
					continue
				}
				want := tc.checks[next].firing
				got := h.alerts("ErrorBudgetBurn", rules.StateFiring)
				if len(got) != len(want) {
					t.Errorf("minute %d: firing %v, want %v", m, got, want)
				}
				for sev, v := range want {
					g, ok := got[sev]
					if !ok {
						t.Errorf("minute %d: no firing %s alert (firing: %v)", m, sev, got)
						continue
					}
					if math.Abs(g-v) > 1e-6*v {
						t.Errorf("minute %d: %s burn rate %.6g, want %.6g", m, sev, g, v)
					}
				}
				next++
			}
			if next != len(tc.checks) {
				t.Fatalf("only %d of %d checks ran", next, len(tc.checks))
			}
		})
	}
}
