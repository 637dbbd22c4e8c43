package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

func noEnv(string) string { return "" }

func TestMainExitCodes(t *testing.T) {
	tests := []struct {
		name      string
		args      []string
		code      int
		stderrSub string
	}{
		{"help", []string{"-h"}, 0, "-concurrency"},
		{"unknown flag", []string{"-bogus"}, 2, "loadgen: flag provided but not defined: -bogus"},
		{"bad value", []string{"-rate", "x"}, 2, `invalid value "x" for flag -rate`},
		{"bad mix", []string{"-mix", "orders"}, 2, "want kind=weight"},
		{"remote", []string{"-url", "http://192.0.2.1:8080"}, 2, "pass -allow-remote"},
		{"faults without token", []string{"-faults", `{"error_rate":0.3}`}, 2, "-faults needs -admin-token"},
		{"positional", []string{"now"}, 2, "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), tt.args, &stdout, &stderr, noEnv)
			if code != tt.code {
				t.Errorf("exit code %d, want %d (stderr %q)", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderrSub) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderrSub)
			}
			if tt.code == 2 && strings.Count(stderr.String(), "\n") != 1 {
				t.Errorf("bad flags should give one line, got %q", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

// TestMainRunWithFaults runs the command against a fake service: faults are
// set before and reset after the run, the report is valid JSON on stdout,
// and the injected 5xx show as errors.
func TestMainRunWithFaults(t *testing.T) {
	f := newFake(t)
	var stdout, stderr bytes.Buffer
	args := []string{
		"-url", f.URL, "-rate", "0", "-concurrency", "3", "-requests", "90", "-mix", "orders=2,reads=1",
		"-faults", `{"error_rate": 1}`, "-json", "-seed", "4",
	}
	code := run(context.Background(), args, &stdout, &stderr, func(k string) string {
		if k == "ADMIN_TOKEN" {
			return f.token
		}
		return ""
	})
	if code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr.String())
	}
	var rep loadgen.Report
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("stdout is not a JSON report: %v\n%s", err, stdout.String())
	}
	c := f.counts()
	if len(c.faultPuts) != 2 || c.faultPuts[0] != `{"error_rate":1}` || c.faultPuts[1] != `{}` {
		t.Errorf("fault PUTs %q, want the faults then {}", c.faultPuts)
	}
	if rep.Requests != 90 || rep.ErrorShare != 1 || rep.StatusCodes[500] != 90 || rep.Kinds.Orders.Status5xx != rep.Kinds.Orders.Requests {
		t.Errorf("report %+v; want 90 requests all answered 500", rep)
	}
	if rep.Seed != 4 || rep.Mix != "orders=2,reads=1,junk=0" || rep.StopReason != loadgen.StopRequests {
		t.Errorf("report settings %+v", rep)
	}
	if strings.Contains(stderr.String(), f.token) || strings.Contains(stdout.String(), f.token) {
		t.Error("output shows the admin token")
	}
	checkNoLeaks(t)
}

func TestMainRunText(t *testing.T) {
	f := newFake(t)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"-url", f.URL, "-rate", "0", "-requests", "40", "-seed", "8"}, &stdout, &stderr, noEnv)
	if code != 0 {
		t.Fatalf("exit code %d, stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{"requests   40 ", "POST /orders", "overall", "status codes"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, stdout.String())
		}
	}
	if !strings.HasPrefix(stderr.String(), "loadgen: "+f.URL+", flat out with 16 workers") {
		t.Errorf("stderr %q does not start with the run summary", stderr.String())
	}
	if f.counts().faultPuts != nil {
		t.Error("faults touched without -faults")
	}
}

func TestMainFailures(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + ln.Addr().String()
	ln.Close()
	f := newFake(t)
	tests := []struct {
		name      string
		args      []string
		stderrSub string
		stdout    bool // a report is printed
	}{
		{"nothing listens", []string{"-url", deadURL, "-requests", "5", "-rate", "0"}, "no HTTP response", true},
		{"faults refused", []string{"-url", f.URL, "-requests", "5", "-admin-token", "wrong", "-faults", "{}"}, "401", false},
		{"faults unreachable", []string{"-url", deadURL, "-requests", "5", "-admin-token", "t", "-faults", "{}"}, "set faults", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), tt.args, &stdout, &stderr, noEnv); code != 1 {
				t.Errorf("exit code %d, want 1 (stderr %q)", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.stderrSub) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tt.stderrSub)
			}
			if got := stdout.Len() > 0; got != tt.stdout {
				t.Errorf("report printed: %v, want %v", got, tt.stdout)
			}
			if strings.Contains(stderr.String(), "wrong") {
				t.Error("stderr shows the admin token")
			}
		})
	}
	if f.arrived.Load() != 1 {
		t.Errorf("after a refused PUT the run went on: server got %d requests", f.arrived.Load())
	}
}
