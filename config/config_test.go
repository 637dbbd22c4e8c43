package config

import (
	"errors"
	"io/fs"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func load(env map[string]string, files map[string]string) (Config, error) {
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	read := func(p string) ([]byte, error) {
		if v, ok := files[p]; ok {
			return []byte(v), nil
		}
		return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrNotExist}
	}
	return Load(lookup, read, "v1.2.3")
}

func TestDefaults(t *testing.T) {
	c, err := load(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{HTTPAddr: ":8080", DatabaseURL: "sqlite://data/ordersvc.db", SentryEnvironment: "development",
		SentryRelease: "v1.2.3", LogLevel: slog.LevelInfo, LogFormat: "json", ShutdownTimeout: 15 * time.Second, Currency: "USD"}
	if c != want {
		t.Errorf("defaults = %+v\nwant %+v", c, want)
	}
}

func TestSecretsFromFiles(t *testing.T) {
	c, err := load(map[string]string{"ADMIN_TOKEN_FILE": "/run/secrets/admin", "ALERT_WEBHOOK_TOKEN": "inline",
		"SENTRY_DSN_FILE": "/dsn"}, map[string]string{"/run/secrets/admin": "s3cret\n", "/dsn": "https://k@sentry.example/1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminToken != "s3cret" || c.AlertWebhookToken != "inline" || c.SentryDSN != "https://k@sentry.example/1" {
		t.Errorf("secrets = %q %q %q", c.AdminToken, c.AlertWebhookToken, c.SentryDSN)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR"},
		{map[string]string{"HTTP_ADDR": ":99999"}, "HTTP_ADDR"},
		{map[string]string{"DATABASE_URL": "postgres://x"}, "DATABASE_URL"},
		{map[string]string{"SENTRY_TRACES_SAMPLE_RATE": "1.5"}, "SENTRY_TRACES_SAMPLE_RATE"},
		{map[string]string{"SENTRY_TRACES_SAMPLE_RATE": "-0.1"}, "SENTRY_TRACES_SAMPLE_RATE"},
		{map[string]string{"SENTRY_TRACES_SAMPLE_RATE": "NaN"}, "SENTRY_TRACES_SAMPLE_RATE"},
		{map[string]string{"SENTRY_TRACES_SAMPLE_RATE": "abc"}, "SENTRY_TRACES_SAMPLE_RATE"},
		{map[string]string{"SENTRY_DSN": "not a dsn"}, "SENTRY_DSN"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"CURRENCY": "usd"}, "CURRENCY"},
		{map[string]string{"CURRENCY": "EURO"}, "CURRENCY"},
		{map[string]string{"ADMIN_TOKEN": "a", "ADMIN_TOKEN_FILE": "/x"}, "ADMIN_TOKEN"},
		{map[string]string{"ADMIN_TOKEN_FILE": "/missing"}, "ADMIN_TOKEN_FILE"},
		{map[string]string{"ALERT_WEBHOOK_TOKEN_FILE": "/empty"}, "ALERT_WEBHOOK_TOKEN_FILE"},
	}
	for _, tt := range tests {
		_, err := load(tt.env, map[string]string{"/empty": " \n"})
		var cerr *Error
		if !errors.As(err, &cerr) || cerr.Var != tt.wantVar {
			t.Errorf("%v: err = %v, want a %s error", tt.env, err, tt.wantVar)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: reason is not one line: %q", tt.env, err)
		}
	}
}

func TestSecretsNeverInErrors(t *testing.T) {
	_, err := load(map[string]string{"SENTRY_DSN": "ftp://topsecretkey@x/1"}, nil)
	if err == nil || strings.Contains(err.Error(), "topsecretkey") {
		t.Errorf("error %v leaks the DSN", err)
	}
}
