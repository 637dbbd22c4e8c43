// Package crossref proves that every metric a rule or a dashboard names is
// one that really exists: its test builds the service in process
// (testkit.NewService, the wiring of internal/app), exercises every kind of
// route (including a panic and a webhook delivery), gathers the live
// registry, and checks each PromQL expression of rules/ and of the
// dashboards' panels and variables against it, against the recording rules
// and against External. A typo in a rule or a panel fails `go test ./...`.
//
// The package itself holds only External, the series that exist without
// the service exporting them; the end-to-end suite (tests/) proves each of
// them against a real Prometheus.
package crossref

// External returns the series the cross-check accepts although the
// service does not export them, by name, with who makes them: the series
// Prometheus itself writes per scrape target and per alert, and any
// self-monitoring metric of Prometheus or Alertmanager a rule or dashboard
// reads (each scraped by the stack's prometheus and alertmanager jobs).
// Recording-rule outputs are not listed: the check reads them from the rule
// files. Each call returns a new map.
func External() map[string]string {
	return map[string]string{
		"up":                                    "Prometheus, per scrape target",
		"scrape_duration_seconds":               "Prometheus, per scrape target",
		"scrape_samples_scraped":                "Prometheus, per scrape target",
		"scrape_series_added":                   "Prometheus, per scrape target",
		"scrape_samples_post_metric_relabeling": "Prometheus, per scrape target",
		"ALERTS":                                "Prometheus, per active alert",
		"ALERTS_FOR_STATE":                      "Prometheus, per active alert",
		// Self-monitoring (rules/selfmonitoring.rules.yml), scraped as the
		// prometheus and alertmanager jobs; rules/selfmonitoring_test.go
		// also finds each on the real binaries' /metrics.
		"prometheus_config_last_reload_successful":          "Prometheus, job prometheus",
		"prometheus_rule_evaluation_failures_total":         "Prometheus, job prometheus",
		"prometheus_notifications_alertmanagers_discovered": "Prometheus, job prometheus",
		"prometheus_notifications_errors_total":             "Prometheus, job prometheus",
		"prometheus_notifications_sent_total":               "Prometheus, job prometheus",
		"alertmanager_config_last_reload_successful":        "Alertmanager, job alertmanager",
		"alertmanager_notifications_failed_total":           "Alertmanager, job alertmanager",
		"alertmanager_notifications_total":                  "Alertmanager, job alertmanager",
		"alertmanager_cluster_members":                      "Alertmanager, job alertmanager",
		"pg_up":                                             PostgresExporter,
		// pg_stat_database, one series per database (labels datid,
		// datname): the stat_database collector, on by default since
		// postgres_exporter 0.13, the default metric map before.
		"pg_stat_database_numbackends":   PostgresExporter,
		"pg_stat_database_xact_commit":   PostgresExporter,
		"pg_stat_database_xact_rollback": PostgresExporter,
		"pg_stat_database_deadlocks":     PostgresExporter,
	}
}

// PostgresExporter is the source of the External series postgres_exporter
// exports (job postgres): only a stack that runs it can find them.
const PostgresExporter = "postgres_exporter, job postgres"
