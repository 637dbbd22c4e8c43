package alertmanager_test

import (
	"log/slog"
	"testing"
	"time"

	amconfig "github.com/prometheus/alertmanager/config"
	"github.com/prometheus/alertmanager/inhibit"
	"github.com/prometheus/alertmanager/provider/mem"
	"github.com/prometheus/alertmanager/types"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
)

// muted runs Alertmanager's real inhibitor over an in-memory alert provider
// holding the given source alerts and reports whether target is muted.
// Alerts in resolved ended a minute ago; those in firing are active.
func muted(t *testing.T, rules []amconfig.InhibitRule, firing, resolved []model.LabelSet, target model.LabelSet) bool {
	t.Helper()
	ctx := t.Context()
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.DiscardHandler)
	marker := types.NewMarker(reg)
	provider, err := mem.NewAlerts(ctx, marker, time.Hour, 0, nil, logger, reg, nil)
	if err != nil {
		t.Fatalf("alert provider: %v", err)
	}
	defer provider.Close()

	now := time.Now()
	var alerts []*types.Alert
	for _, ls := range firing {
		alerts = append(alerts, &types.Alert{
			Alert:     model.Alert{Labels: ls, StartsAt: now.Add(-10 * time.Minute), EndsAt: now.Add(time.Hour)},
			UpdatedAt: now,
		})
	}
	for _, ls := range resolved {
		alerts = append(alerts, &types.Alert{
			Alert:     model.Alert{Labels: ls, StartsAt: now.Add(-time.Hour), EndsAt: now.Add(-time.Minute)},
			UpdatedAt: now,
		})
	}
	if err := provider.Put(ctx, alerts...); err != nil {
		t.Fatalf("put alerts: %v", err)
	}

	ih := inhibit.NewInhibitor(provider, rules, marker, logger)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ih.Run()
	}()
	defer func() {
		ih.Stop()
		<-done
	}()
	ih.WaitForLoading()
	return ih.Mutes(ctx, target)
}

// alert builds the labels of an alert of the given job.
func alert(name, severity, job string) model.LabelSet {
	return lset("alertname", name, "severity", severity, "job", job)
}

// TestInhibition evaluates alertmanager.yml's inhibit rules with the real
// inhibitor: which alert mutes which, and that the equal labels confine
// inhibition to one job.
func TestInhibition(t *testing.T) {
	const other = "payments"
	var everything []model.LabelSet
	for _, s := range specAlerts {
		everything = append(everything, alert(s.alert, s.severity, serviceJob))
	}

	tests := []struct {
		name     string
		firing   []model.LabelSet
		resolved []model.LabelSet
		target   model.LabelSet
		want     bool
	}{
		// Critical inhibits the warning variant of the same alert and job.
		{"ErrorBudgetBurn critical mutes its warning, same job",
			[]model.LabelSet{alert("ErrorBudgetBurn", "critical", serviceJob)}, nil,
			alert("ErrorBudgetBurn", "warning", serviceJob), true},
		{"ErrorBudgetBurn critical of another job does not",
			[]model.LabelSet{alert("ErrorBudgetBurn", "critical", other)}, nil,
			alert("ErrorBudgetBurn", "warning", serviceJob), false},
		{"a warning never mutes the critical",
			[]model.LabelSet{alert("ErrorBudgetBurn", "warning", serviceJob)}, nil,
			alert("ErrorBudgetBurn", "critical", serviceJob), false},
		{"critical mutes only the same alertname",
			[]model.LabelSet{alert("HighErrorRate", "critical", serviceJob)}, nil,
			alert("SlowResponseTime", "warning", serviceJob), false},
		{"a resolved critical no longer mutes",
			nil, []model.LabelSet{alert("ErrorBudgetBurn", "critical", serviceJob)},
			alert("ErrorBudgetBurn", "warning", serviceJob), false},

		// A down or missing target mutes the symptoms of its own job.
		{"TargetDown mutes HighErrorRate, same job",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("HighErrorRate", "critical", serviceJob), true},
		{"TargetDown of another job does not mute HighErrorRate",
			[]model.LabelSet{alert("TargetDown", "critical", other)}, nil,
			alert("HighErrorRate", "critical", serviceJob), false},
		{"TargetDown mutes SlowResponseTime",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("SlowResponseTime", "warning", serviceJob), true},
		{"TargetDown mutes ErrorBudgetBurn critical",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("ErrorBudgetBurn", "critical", serviceJob), true},
		{"TargetDown mutes ErrorBudgetBurn warning",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("ErrorBudgetBurn", "warning", serviceJob), true},
		{"TargetDown mutes PanicsDetected",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("PanicsDetected", "warning", serviceJob), true},
		{"TargetMissing mutes HighErrorRate, same job",
			[]model.LabelSet{alert("TargetMissing", "critical", serviceJob)}, nil,
			alert("HighErrorRate", "critical", serviceJob), true},
		{"TargetMissing of another job does not mute HighErrorRate",
			[]model.LabelSet{alert("TargetMissing", "critical", other)}, nil,
			alert("HighErrorRate", "critical", serviceJob), false},
		{"a resolved TargetDown no longer mutes",
			nil, []model.LabelSet{alert("TargetDown", "critical", serviceJob)},
			alert("HighErrorRate", "critical", serviceJob), false},
		{"TargetDown leaves business alert InventoryLow alone",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("InventoryLow", "warning", serviceJob), false},
		{"TargetDown leaves business alert OutOfStock alone",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("OutOfStock", "info", serviceJob), false},
		{"TargetMissing does not mute TargetDown",
			[]model.LabelSet{alert("TargetMissing", "critical", serviceJob)}, nil,
			alert("TargetDown", "critical", serviceJob), false},
		{"TargetDown does not mute TargetMissing",
			[]model.LabelSet{alert("TargetDown", "critical", serviceJob)}, nil,
			alert("TargetMissing", "critical", serviceJob), false},

		// PostgreSQL down is the cause of the service's DatabaseDown.
		{"PostgresDown mutes DatabaseDown of the service's job",
			[]model.LabelSet{alert("PostgresDown", "critical", "postgres")}, nil,
			alert("DatabaseDown", "critical", serviceJob), true},
		{"DatabaseDown does not mute PostgresDown",
			[]model.LabelSet{alert("DatabaseDown", "critical", serviceJob)}, nil,
			alert("PostgresDown", "critical", "postgres"), false},
		{"PostgresDown leaves HighErrorRate alone",
			[]model.LabelSet{alert("PostgresDown", "critical", "postgres")}, nil,
			alert("HighErrorRate", "critical", serviceJob), false},

		// The heartbeat must get through whatever else fires.
		{"Watchdog is never muted",
			everything, nil,
			alert("Watchdog", "none", serviceJob), false},
	}

	rules := loadConfig(t).InhibitRules
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := muted(t, rules, tc.firing, tc.resolved, tc.target); got != tc.want {
				t.Errorf("muted(%v) = %v, want %v (firing %v, resolved %v)", tc.target, got, tc.want, tc.firing, tc.resolved)
			}
		})
	}
}

// TestInhibitionWithoutRules is the control for TestInhibition: with no
// inhibit rules nothing is muted, so the muted cases above are due to
// alertmanager.yml and not to the harness.
func TestInhibitionWithoutRules(t *testing.T) {
	firing := []model.LabelSet{alert("TargetDown", "critical", serviceJob), alert("ErrorBudgetBurn", "critical", serviceJob)}
	for _, target := range []model.LabelSet{
		alert("HighErrorRate", "critical", serviceJob),
		alert("ErrorBudgetBurn", "warning", serviceJob),
	} {
		if muted(t, nil, firing, nil, target) {
			t.Errorf("%v muted with no inhibit rules", target)
		}
	}
}
