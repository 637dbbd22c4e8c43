package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

func TestParseTarget(t *testing.T) {
	tests := []struct {
		raw         string
		allowRemote bool
		errSub      string // "" = accepted
	}{
		{"http://127.0.0.1:8080", false, ""},
		{"http://127.0.0.2:8080/", false, ""},
		{"http://[::1]:8080", false, ""},
		{"http://localhost:8080", false, ""},
		{"http://LOCALHOST.:8080", false, ""},
		{"https://127.0.0.1:8443/api", false, ""},
		{"http://example.com:8080", false, "not loopback"},
		{"http://10.0.0.1:8080", false, "not loopback"},
		{"http://0.0.0.0:8080", false, "not loopback"},
		{"http://[::]:8080", false, "not loopback"},
		{"http://localhost.example.com", false, "not loopback"},
		{"http://127.0.0.1.nip.io", false, "not loopback"},
		{"http://example.com:8080", true, ""},
		{"http://10.0.0.1:8080", true, ""},
		{"ftp://127.0.0.1", false, "http"},
		{"127.0.0.1:8080", false, "http"},
		{"http://", false, "no host"},
		{"http://:8080", false, "no host"},
		{"http://u:p@127.0.0.1", false, "credentials"},
		{"http://127.0.0.1/?x=1", false, "query"},
		{"http://127.0.0.1/#x", false, "fragment"},
		{"http://[::1", false, "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			u, err := parseTarget(tt.raw, tt.allowRemote)
			if tt.errSub == "" {
				if err != nil || u == nil {
					t.Fatalf("parseTarget(%q, %v) = %v", tt.raw, tt.allowRemote, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("parseTarget(%q, %v) = %v, want an error about %q", tt.raw, tt.allowRemote, err, tt.errSub)
			}
			if strings.Contains(err.Error(), "u:p@") {
				t.Fatalf("error leaks the URL's password: %v", err)
			}
		})
	}
}

func TestConfigFlags(t *testing.T) {
	env := map[string]string{"ADMIN_TOKEN": "from-env"}
	getenv := func(k string) string { return env[k] }
	tests := []struct {
		name   string
		args   []string
		errSub string // "" = valid
		check  func(t *testing.T, c *config)
	}{
		{"defaults", nil, "", func(t *testing.T, c *config) {
			o := c.opts
			if o.BaseURL.String() != defaultURL || o.Rate != 100 || o.Duration != 30*time.Second || o.Requests != 0 ||
				o.Timeout != 5*time.Second || o.Mix != loadgen.DefaultMix() || o.IdempotencyShare != 0.1 || o.Seed == 0 ||
				!c.progress || c.jsonOut || c.faults != nil {
				t.Errorf("defaults: %+v %+v", o, c)
			}
			if c.adminToken != "from-env" {
				t.Errorf("admin token not taken from ADMIN_TOKEN")
			}
		}},
		{"all flags", []string{
			"-url", "http://localhost:9000", "-rate", "0", "-concurrency", "8", "-duration", "1m", "-requests", "500",
			"-timeout", "2s", "-mix", "orders=1,junk=1", "-idempotency", "0.5", "-seed", "77", "-admin-token", "tok",
			"-faults", ` { "error_rate" : 0.3 } `, "-json", "-progress=false",
		}, "", func(t *testing.T, c *config) {
			o := c.opts
			if o.BaseURL.Host != "localhost:9000" || o.Rate != 0 || o.Concurrency != 8 || o.Duration != time.Minute ||
				o.Requests != 500 || o.Timeout != 2*time.Second || o.Mix != (loadgen.Mix{1, 0, 1}) || o.IdempotencyShare != 0.5 ||
				o.Seed != 77 || c.adminToken != "tok" || string(c.faults) != `{"error_rate":0.3}` || !c.jsonOut || c.progress {
				t.Errorf("parsed: %+v %+v faults %s", o, c, c.faults)
			}
		}},
		{"remote allowed", []string{"-url", "http://10.1.2.3:8080", "-allow-remote"}, "", nil},
		{"remote refused", []string{"-url", "http://10.1.2.3:8080"}, "-allow-remote", nil},
		{"unknown flag", []string{"-nope"}, "not defined", nil},
		{"positional argument", []string{"extra"}, "unexpected argument", nil},
		{"rate not a number", []string{"-rate", "fast"}, "invalid value", nil},
		{"negative rate", []string{"-rate", "-1"}, "-rate", nil},
		{"infinite rate", []string{"-rate", "Inf"}, "-rate", nil},
		{"huge rate", []string{"-rate", "1e7"}, "-rate", nil},
		{"negative concurrency", []string{"-concurrency", "-2"}, "-concurrency", nil},
		{"huge concurrency", []string{"-concurrency", "10001"}, "-concurrency", nil},
		{"negative duration", []string{"-duration", "-1s"}, "-duration", nil},
		{"duration without unit", []string{"-duration", "10"}, "invalid value", nil},
		{"negative requests", []string{"-requests", "-5"}, "-requests", nil},
		{"zero timeout", []string{"-timeout", "0s"}, "-timeout", nil},
		{"bad mix", []string{"-mix", "orders=70,writes=30"}, "unknown kind", nil},
		{"idempotency above 1", []string{"-idempotency", "2"}, "-idempotency", nil},
		{"faults not JSON", []string{"-faults", "error_rate=0.3", "-admin-token", "t"}, "-faults", nil},
		{"faults an array", []string{"-faults", "[1]", "-admin-token", "t"}, "JSON object", nil},
		{"faults null", []string{"-faults", "null", "-admin-token", "t"}, "JSON object", nil},
		{"faults trailing data", []string{"-faults", "{} {}", "-admin-token", "t"}, "after the object", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConfig()
			fs := newFlagSet(c)
			err := fs.Parse(tt.args)
			if err == nil {
				err = c.finish(fs.Args(), getenv)
			}
			if tt.errSub == "" {
				if err != nil {
					t.Fatalf("args %q: %v", tt.args, err)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.errSub) {
				t.Fatalf("args %q: error %v, want one about %q", tt.args, err, tt.errSub)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}

	// -faults without any token.
	c := newConfig()
	fs := newFlagSet(c)
	if err := fs.Parse([]string{"-faults", "{}"}); err != nil {
		t.Fatal(err)
	}
	if err := c.finish(nil, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "-admin-token") {
		t.Fatalf("-faults without a token: %v", err)
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"-seed", "5"}, []string{"http://127.0.0.1:8080", "rate 100/s", "at most 500 in flight", "stop after 30s", "seed 5"}},
		{[]string{"-rate", "0", "-duration", "0", "-requests", "10"}, []string{"flat out with 16 workers", "stop after 10 requests"}},
		{[]string{"-duration", "0"}, []string{"until interrupted"}},
		{[]string{"-duration", "1s", "-requests", "3", "-admin-token", "tok", "-faults", `{"latency_ms":100}`},
			[]string{"stop after 1s or 3 requests", `faults {"latency_ms":100}`}},
	}
	for _, tt := range tests {
		c := newConfig()
		fs := newFlagSet(c)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if err := c.finish(nil, func(string) string { return "" }); err != nil {
			t.Fatal(err)
		}
		got := c.describe()
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Errorf("describe() for %q = %q, missing %q", tt.args, got, w)
			}
		}
		if strings.Contains(got, "tok") {
			t.Errorf("describe() shows the admin token: %q", got)
		}
	}
}

func TestAdminTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "admin_token")
	if err := os.WriteFile(path, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := newConfig()
	fs := newFlagSet(c)
	if err := fs.Parse([]string{"-faults", `{"error_rate":0.1}`}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"ADMIN_TOKEN_FILE": path}
	if err := c.finish(nil, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if c.adminToken != "from-file" {
		t.Errorf("admin token = %q, want from-file", c.adminToken)
	}
	env["ADMIN_TOKEN_FILE"] = filepath.Join(t.TempDir(), "missing")
	c2 := newConfig()
	if err := c2.finish(nil, func(k string) string { return env[k] }); err == nil {
		t.Error("a missing ADMIN_TOKEN_FILE was accepted")
	}
}
