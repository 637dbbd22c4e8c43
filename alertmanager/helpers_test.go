// Package alertmanager_test checks alertmanager/alertmanager.yml with the real
// Alertmanager code: amtool check-config on the pinned binary, loading with
// the config package, routing every alert of rules/*.yml through the
// dispatch route tree, and inhibition through the inhibit package.
package alertmanager_test

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/common/model"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// Names fixed by the spec and by alertmanager.yml.
const (
	serviceJob      = "ordersvc"
	webhookPath     = "/webhooks/alertmanager"
	credentialsFile = "/run/secrets/alert_webhook_token"

	rcvHeartbeat   = "heartbeat"
	rcvPaging      = "paging"
	rcvTicket      = "ticket"
	rcvLowPriority = "low-priority"
	rcvCatchAll    = "catch-all"
)

// configPath is the path of the Alertmanager configuration under test.
func configPath(t testing.TB) string {
	t.Helper()
	return testkit.RepoFile(t, "alertmanager/alertmanager.yml")
}

// loadConfig loads alertmanager.yml with Alertmanager's own config package,
// which applies the same defaults and validation as the server. Each call
// returns a fresh copy, so callers may mutate it.
func loadConfig(t testing.TB) *amconfig.Config {
	t.Helper()
	cfg, err := amconfig.LoadFile(configPath(t))
	if err != nil {
		t.Fatalf("load %s: %v", configPath(t), err)
	}
	return cfg
}

// ruleAlert is one alerting rule as Alertmanager will see it: its name and
// static labels (group labels merged with the rule's own).
type ruleAlert struct {
	File   string
	Name   string
	Labels model.LabelSet
}

// Severity returns the alert's severity label ("" when it has none).
func (a ruleAlert) Severity() string { return string(a.Labels["severity"]) }

// ruleAlerts returns the alerting rules of files (testkit.RuleFiles);
// recording rules are skipped. The alert's labels are those Prometheus
// attaches statically: group labels, overridden by rule labels, plus
// alertname and the given job (the rules aggregate by job, so every alert
// of the service carries it).
func ruleAlerts(files []testkit.RuleFile, job string) []ruleAlert {
	var alerts []ruleAlert
	for _, f := range files {
		for _, g := range f.Groups.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				ls := model.LabelSet{}
				for k, v := range g.Labels {
					ls[model.LabelName(k)] = model.LabelValue(v)
				}
				for k, v := range r.Labels {
					ls[model.LabelName(k)] = model.LabelValue(v)
				}
				ls[model.AlertNameLabel] = model.LabelValue(r.Alert)
				ls[model.JobLabel] = model.LabelValue(job)
				alerts = append(alerts, ruleAlert{File: filepath.Base(f.Path), Name: r.Alert, Labels: ls})
			}
		}
	}
	return alerts
}

// lset builds a label set from name/value pairs.
func lset(kv ...string) model.LabelSet {
	if len(kv)%2 != 0 {
		panic("lset: odd number of arguments")
	}
	ls := make(model.LabelSet, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		ls[model.LabelName(kv[i])] = model.LabelValue(kv[i+1])
	}
	return ls
}

// sortedLabelArgs renders a label set as sorted name="value" arguments, the
// form amtool accepts on its command line.
func sortedLabelArgs(ls model.LabelSet) []string {
	names := slices.Sorted(maps.Keys(ls))
	args := make([]string, 0, len(names))
	for _, n := range names {
		args = append(args, fmt.Sprintf("%s=%q", n, ls[n]))
	}
	return args
}
