package metrics

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// maxAlertNames bounds the distinct alertname values of
// alerts_received_total. Alert names come from the rules, a small set; the
// cap only guards against a misbehaving sender.
const maxAlertNames = 200

// alertLabels keeps alerts_received_total's labels bounded.
type alertLabels struct {
	mu    sync.Mutex
	names map[string]struct{}
}

var severities = map[string]struct{}{"critical": {}, "warning": {}, "info": {}, "none": {}}

func (l *alertLabels) name(n string) string {
	if !validLabelValue(n) {
		return "invalid"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.names[n]; ok {
		return n
	}
	if len(l.names) >= maxAlertNames {
		return "other"
	}
	l.names[n] = struct{}{}
	return n
}

// validLabelValue accepts what a Prometheus alert name looks like:
// 1..64 characters of [A-Za-z0-9_:].
func validLabelValue(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

func newAlertsReceived() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "alerts_received_total",
		Help: "Alert state changes received from Alertmanager (duplicates not counted), by alertname, severity and status.",
	}, []string{"alertname", "severity", "status"})
}

// AlertReceived counts a new alert state delivered by Alertmanager. Label
// values are bounded: unknown severities become "other", malformed names
// "invalid", and names beyond the first 200 "other".
func (m *Metrics) AlertReceived(alertname, severity, status string) {
	if _, ok := severities[severity]; !ok {
		severity = "other"
	}
	if status != "firing" && status != "resolved" {
		status = "other"
	}
	m.alertsReceived.WithLabelValues(m.alertNames.name(alertname), severity, status).Inc()
}
