package ordersvc

import "testing"

func TestAlertChangeShouldForward(t *testing.T) {
	alert := func(status, severity string) Alert {
		return Alert{Status: status, Labels: map[string]string{AlertLabelName: "HighErrorRate", AlertLabelSeverity: severity}}
	}
	tests := []struct {
		name string
		ch   AlertChange
		want bool
	}{
		{"new critical firing", AlertChange{Alert: alert(AlertFiring, SeverityCritical), New: true}, true},
		{"duplicate critical firing", AlertChange{Alert: alert(AlertFiring, SeverityCritical), New: false}, false},
		{"new critical resolved", AlertChange{Alert: alert(AlertResolved, SeverityCritical), New: true}, false},
		{"new warning firing", AlertChange{Alert: alert(AlertFiring, "warning"), New: true}, false},
		{"severity is case-sensitive", AlertChange{Alert: alert(AlertFiring, "Critical"), New: true}, false},
		{"no severity label", AlertChange{Alert: Alert{Status: AlertFiring}, New: true}, false},
	}
	for _, tt := range tests {
		if got := tt.ch.ShouldForward(); got != tt.want {
			t.Errorf("%s: ShouldForward() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
