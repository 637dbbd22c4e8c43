package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc"
)

// bigAlert is a firing alert whose annotation value is size bytes.
func bigAlert(fingerprint string, size int) string {
	return strings.Replace(alertJSON("firing", fingerprint, "HighErrorRate", "critical"),
		`"summary":"s"`, `"summary":"s","description":"`+strings.Repeat("x", size)+`"`, 1)
}

// TestAlertValuesAreBounded: a huge annotation or label value is stored
// cut to its limit (the alert itself is kept); a huge label name makes the
// notification malformed.
func TestAlertValuesAreBounded(t *testing.T) {
	e := newEnv(t)
	if code := e.webhook(payload("firing", bigAlert("big1", 900<<10))); code != http.StatusOK {
		t.Fatalf("webhook = %d", code)
	}
	long := strings.Replace(alertJSON("firing", "big2", "HighErrorRate", "critical"), `"job":"ordersvc"`, `"job":"`+strings.Repeat("j", 5000)+`"`, 1)
	if code := e.webhook(payload("firing", long)); code != http.StatusOK {
		t.Fatalf("webhook with a long label value = %d", code)
	}
	for _, a := range e.alerts("") {
		if n := len(a.Annotations["description"]); n > ordersvc.MaxAlertAnnotationValueLen {
			t.Errorf("%s: description kept %d bytes, want at most %d", a.Fingerprint, n, ordersvc.MaxAlertAnnotationValueLen)
		}
		if n := len(a.Labels["job"]); n > ordersvc.MaxAlertLabelValueLen {
			t.Errorf("%s: job label kept %d bytes, want at most %d", a.Fingerprint, n, ordersvc.MaxAlertLabelValueLen)
		}
	}
	badName := strings.Replace(alertJSON("firing", "big3", "X", "critical"), `"job":"ordersvc"`, `"`+strings.Repeat("n", 200)+`":"v"`, 1)
	problemOf(t, e.do("POST", "/webhooks/alertmanager", payload("firing", badName), "Authorization", "Bearer "+webhookToken), 400)
}

// TestAlertTimesInRange: times outside the accepted range are a 400 and
// store nothing (before, 2300 came back as 1715, and two alerts 584 years
// apart merged).
func TestAlertTimesInRange(t *testing.T) {
	tests := []struct {
		name, from, to string
		status         string
		want           int
	}{
		{"startsAt 2300", `"startsAt":"2026-11-21T10:00:00.123456789Z"`, `"startsAt":"2300-01-01T00:00:00Z"`, "firing", 400},
		{"startsAt 1600", `"startsAt":"2026-11-21T10:00:00.123456789Z"`, `"startsAt":"1600-01-01T00:00:00Z"`, "firing", 400},
		{"startsAt 2100", `"startsAt":"2026-11-21T10:00:00.123456789Z"`, `"startsAt":"2100-01-01T00:00:00Z"`, "firing", 200},
		{"resolved endsAt 2300", `"endsAt":"2026-11-21T10:05:00Z"`, `"endsAt":"2300-01-01T00:00:00Z"`, "resolved", 400},
		{"firing with the zero endsAt", "", "", "firing", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			body := payload(tt.status, strings.Replace(alertJSON(tt.status, "t1", "X", "warning"), tt.from, tt.to, 1))
			if code := e.webhook(body); code != tt.want {
				t.Fatalf("webhook = %d, want %d", code, tt.want)
			}
			if n := len(e.alerts("")); (n == 1) != (tt.want == 200) {
				t.Errorf("%d alerts stored", n)
			}
		})
	}
}

// TestAlertPagesAreBoundedAndComplete: a page of GET /alerts stays under
// MaxAlertPageBytes however big the alerts are, and following next
// reaches every alert exactly once, newest first.
func TestAlertPagesAreBoundedAndComplete(t *testing.T) {
	e := newEnv(t)
	const n = 300 // × about 8 KiB each: far more than one page
	for i := range n {
		if code := e.webhook(payload("firing", bigAlert(fmt.Sprintf("fp%04d", i), 20<<10))); code != http.StatusOK {
			t.Fatalf("webhook %d = %d", i, code)
		}
	}
	seen := map[string]bool{}
	var order []string
	pages := 0
	for cursor := ""; ; pages++ {
		q := "/alerts?limit=500"
		if cursor != "" {
			q += "&before=" + cursor
		}
		w := e.admin("GET", q, "")
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s = %d %s", q, w.Code, w.Body)
		}
		if w.Body.Len() > ordersvc.MaxAlertPageBytes+64 {
			t.Errorf("page %d is %d bytes, over the %d-byte bound", pages, w.Body.Len(), ordersvc.MaxAlertPageBytes)
		}
		var page struct {
			Alerts []ordersvc.Alert `json:"alerts"`
			Next   string           `json:"next"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil {
			t.Fatal(err)
		}
		for _, a := range page.Alerts {
			if seen[a.Fingerprint] {
				t.Fatalf("alert %s listed twice", a.Fingerprint)
			}
			seen[a.Fingerprint] = true
			order = append(order, a.Fingerprint)
		}
		if page.Next == "" {
			break
		}
		if pages > n {
			t.Fatal("paging does not end")
		}
		cursor = page.Next
	}
	if len(seen) != n || pages < 2 {
		t.Fatalf("paging reached %d of %d alerts in %d pages", len(seen), n, pages+1)
	}
	if order[0] != fmt.Sprintf("fp%04d", n-1) || order[n-1] != "fp0000" {
		t.Errorf("not newest first: %s … %s", order[0], order[n-1])
	}
	problemOf(t, e.admin("GET", "/alerts?before=x", ""), 422)
	problemOf(t, e.admin("GET", "/alerts?before=0", ""), 422)
	t.Logf("%d alerts of ~8 KiB in %d pages", n, pages+1)
}

// TestResolvedAlertsExpire: resolved records older than ALERT_RETENTION go;
// firing ones and recent resolved ones stay.
func TestResolvedAlertsExpire(t *testing.T) {
	e := newEnv(t)
	for _, body := range []string{
		payload("resolved", alertJSON("resolved", "old", "X", "warning")),
		payload("firing", alertJSON("firing", "firing", "X", "warning")),
	} {
		if code := e.webhook(body); code != http.StatusOK {
			t.Fatalf("webhook = %d", code)
		}
	}
	n, err := e.db.DeleteResolvedAlerts(t.Context(), time.Now().Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("DeleteResolvedAlerts = %d, %v; want 1", n, err)
	}
	if got := e.alerts(""); len(got) != 1 || got[0].Fingerprint != "firing" {
		t.Errorf("left %+v, want only the firing alert", got)
	}
	if n, _ := e.db.DeleteResolvedAlerts(t.Context(), time.Now().Add(-time.Hour)); n != 0 {
		t.Errorf("a second delete with an older cutoff removed %d", n)
	}
}
