package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
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
	want := Config{HTTPAddr: ":8080", DatabaseURL: "sqlite://data/ordersvc.db",
		Database: Database{Driver: DriverSQLite, Path: "data/ordersvc.db"}, SentryEnvironment: "development",
		SentryRelease: "v1.2.3", LogLevel: slog.LevelInfo, LogFormat: "json", Currency: "USD",
		// SPEC §2 defaults, spelled out rather than taken from the constants.
		ShutdownDelay: 5 * time.Second, ShutdownTimeout: 15 * time.Second, HeartbeatTimeout: 5 * time.Minute,
		AlertRetention: 720 * time.Hour, OTelServiceName: "ordersvc", TracesSampler: "traceidratio", TracesSamplerArg: 1}
	if c != want {
		t.Errorf("defaults = %+v\nwant %+v", c, want)
	}
}

// Tokens long enough to be accepted.
const (
	adminTok   = "admin-0123456789abcdef"
	webhookTok = "hook-0123456789abcdef"
)

func TestSecretsFromFiles(t *testing.T) {
	c, err := load(map[string]string{"ADMIN_TOKEN_FILE": "/run/secrets/admin", "ALERT_WEBHOOK_TOKEN": webhookTok,
		"SENTRY_DSN_FILE": "/dsn"}, map[string]string{"/run/secrets/admin": adminTok + "\n", "/dsn": "https://k@sentry.example/1"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminToken != adminTok || c.AlertWebhookToken != webhookTok || c.SentryDSN != "https://k@sentry.example/1" {
		t.Errorf("secrets = %q %q %q", c.AdminToken, c.AlertWebhookToken, c.SentryDSN)
	}
}

// TestTokens pins SPEC §2: a token shorter than 16 bytes or holding
// whitespace or control characters is invalid, and a NAME_FILE loses
// exactly one trailing newline, nothing else.
func TestTokens(t *testing.T) {
	long := strings.Repeat("x", MaxTokenBytes)
	accepted := []struct {
		env   map[string]string
		files map[string]string
		want  string // AdminToken
	}{
		{map[string]string{}, nil, ""}, // unset: admin API disabled
		{map[string]string{"ADMIN_TOKEN": ""}, nil, ""},
		{map[string]string{"ADMIN_TOKEN": "0123456789abcdef"}, nil, "0123456789abcdef"}, // exactly MinTokenBytes
		{map[string]string{"ADMIN_TOKEN": long}, nil, long},                             // exactly MaxTokenBytes
		{map[string]string{"ADMIN_TOKEN": "ünïcödé-tökén-ok"}, nil, "ünïcödé-tökén-ok"},
		{map[string]string{"ADMIN_TOKEN": `A1b2/+=~!"#$%&'()*,-.:;<>?@[\]^_{|}`}, nil, `A1b2/+=~!"#$%&'()*,-.:;<>?@[\]^_{|}`},
		{map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok}, adminTok}, // no newline
		{map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok + "\n"}, adminTok},
		{map[string]string{"ADMIN_TOKEN": "", "ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok}, adminTok},
	}
	for _, tt := range accepted {
		c, err := load(tt.env, tt.files)
		if err != nil || c.AdminToken != tt.want {
			t.Errorf("%.60v: token %.60q, %v; want %.60q", tt.env, c.AdminToken, err, tt.want)
		}
	}

	refused := []struct {
		name    string
		env     map[string]string
		files   map[string]string
		wantVar string
		want    string // in the reason
	}{
		{"trailing space", map[string]string{"ADMIN_TOKEN": adminTok + " "}, nil, "ADMIN_TOKEN", "whitespace at its end"},
		{"leading space", map[string]string{"ADMIN_TOKEN": " " + adminTok}, nil, "ADMIN_TOKEN", "whitespace at its start"},
		{"inner space", map[string]string{"ADMIN_TOKEN": "admin 0123456789abcdef"}, nil, "ADMIN_TOKEN", "whitespace inside"},
		{"tab", map[string]string{"ALERT_WEBHOOK_TOKEN": "hook\t0123456789abcdef"}, nil, "ALERT_WEBHOOK_TOKEN", "whitespace"},
		{"NBSP", map[string]string{"ADMIN_TOKEN": adminTok + "\u00a0"}, nil, "ADMIN_TOKEN", "whitespace"},
		{"NUL", map[string]string{"ADMIN_TOKEN": adminTok + "\x00x"}, nil, "ADMIN_TOKEN", "control"},
		{"escape", map[string]string{"ADMIN_TOKEN": "\x1b[0m" + adminTok}, nil, "ADMIN_TOKEN", "control"},
		{"DEL", map[string]string{"ADMIN_TOKEN": adminTok + "\x7f"}, nil, "ADMIN_TOKEN", "control"},
		{"zero-width space", map[string]string{"ADMIN_TOKEN": adminTok + "\u200b"}, nil, "ADMIN_TOKEN", "invisible"},
		{"invalid UTF-8", map[string]string{"ADMIN_TOKEN": adminTok + "\xff"}, nil, "ADMIN_TOKEN", "UTF-8"},
		{"3 bytes", map[string]string{"ALERT_WEBHOOK_TOKEN": "abc"}, nil, "ALERT_WEBHOOK_TOKEN", "shorter than 16 bytes"},
		{"15 bytes", map[string]string{"ADMIN_TOKEN": "0123456789abcde"}, nil, "ADMIN_TOKEN", "shorter than 16 bytes"},
		{"too long", map[string]string{"ADMIN_TOKEN": long + "x"}, nil, "ADMIN_TOKEN", "longer than 4096 bytes"},
		{"file: two lines", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok + "\n" + adminTok + "\n"},
			"ADMIN_TOKEN_FILE", "more than one line"},
		{"file: two newlines", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok + "\n\n"},
			"ADMIN_TOKEN_FILE", "whitespace at its end"},
		{"file: CRLF", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok + "\r\n"},
			"ADMIN_TOKEN_FILE", "CRLF"},
		{"file: trailing space", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok + " \n"},
			"ADMIN_TOKEN_FILE", "whitespace at its end"},
		{"file: leading newline", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": "\n" + adminTok},
			"ADMIN_TOKEN_FILE", "more than one line"},
		{"file: BOM", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": "\ufeff" + adminTok + "\n"},
			"ADMIN_TOKEN_FILE", "invisible"},
		{"file: short", map[string]string{"ALERT_WEBHOOK_TOKEN_FILE": "/t"}, map[string]string{"/t": "s3cret\n"},
			"ALERT_WEBHOOK_TOKEN_FILE", "shorter than 16 bytes"},
		{"file: only a newline", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": "\n"}, "ADMIN_TOKEN_FILE", "empty"},
		{"file: empty", map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": ""}, "ADMIN_TOKEN_FILE", "empty"},
		{"file: missing", map[string]string{"ADMIN_TOKEN_FILE": "/missing"}, nil, "ADMIN_TOKEN_FILE", "cannot read"},
		{"both", map[string]string{"ADMIN_TOKEN": adminTok, "ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": adminTok}, "ADMIN_TOKEN", "not both"},
	}
	for _, tt := range refused {
		_, err := load(tt.env, tt.files)
		checkRefused(t, tt.name, err, tt.wantVar, tt.want)
	}
}

// checkRefused fails unless err is a one-line *Error for wantVar whose
// reason contains want.
func checkRefused(t *testing.T, name string, err error, wantVar, want string) {
	t.Helper()
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Var != wantVar {
		t.Errorf("%s: err = %v, want a %s error", name, err, wantVar)
		return
	}
	if !strings.Contains(cerr.Reason, want) {
		t.Errorf("%s: reason %q, want it to say %q", name, cerr.Reason, want)
	}
	if msg := err.Error(); strings.ContainsAny(msg, "\r\n") || len(msg) > 200 || !utf8.ValidString(msg) {
		t.Errorf("%s: message is not one short valid line: %q", name, msg)
	}
}

func TestInvalid(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"HTTP_ADDR": "8080"}, "HTTP_ADDR"},
		{map[string]string{"HTTP_ADDR": ":99999"}, "HTTP_ADDR"},
		{map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL"},
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
		{map[string]string{"ADMIN_TOKEN": adminTok, "ADMIN_TOKEN_FILE": "/x"}, "ADMIN_TOKEN"},
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

// TestSecretsNeverInErrors refuses secrets in every way it can and checks
// that no message quotes them (nor their distinctive part).
func TestSecretsNeverInErrors(t *testing.T) {
	for _, tt := range []struct {
		env    map[string]string
		files  map[string]string
		secret string
	}{
		{map[string]string{"ADMIN_TOKEN": "ZxQ"}, nil, "ZxQ"},
		{map[string]string{"ADMIN_TOKEN": "topsecret-ZxQ-token "}, nil, "ZxQ"},
		{map[string]string{"ALERT_WEBHOOK_TOKEN": "topsecret-ZxQ\x00-token"}, nil, "ZxQ"},
		{map[string]string{"ALERT_WEBHOOK_TOKEN": "topsecret-ZxQ" + strings.Repeat("z", MaxTokenBytes)}, nil, "ZxQ"},
		{map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": "topsecret-ZxQ-token\nline2\n"}, "ZxQ"},
		{map[string]string{"ADMIN_TOKEN_FILE": "/t"}, map[string]string{"/t": "ZxQ\n"}, "ZxQ"},
		{map[string]string{"SENTRY_DSN": "ftp://topsecretkey@x/1"}, nil, "topsecretkey"},
		{map[string]string{"SENTRY_DSN": "http://topsecretkey@example.com"}, nil, "topsecretkey"},
		{map[string]string{"SENTRY_DSN": "https://topsecretkey@example.com:99999/1"}, nil, "topsecretkey"},
		{map[string]string{"SENTRY_DSN": "https://topsecretkey@example.com:x/1"}, nil, "topsecretkey"},
		{map[string]string{"SENTRY_DSN": "https://topsecretkey:s3cr%zz@example.com/1"}, nil, "topsecretkey"},
		{map[string]string{"SENTRY_DSN": "https://topsecretkey@example.com/1 "}, nil, "topsecretkey"},
		{map[string]string{"SENTRY_DSN_FILE": "/d"}, map[string]string{"/d": "https://topsecretkey@/1\n"}, "topsecretkey"},
		{map[string]string{"DATABASE_URL": "postgres://u:hunter2secret@h:99999/db"}, nil, "hunter2"},
		{map[string]string{"DATABASE_URL": "postgres://u:hunter2secret@:5432/db"}, nil, "hunter2"},
		{map[string]string{"DATABASE_URL": "postgres://u:hunter2secret@h:x/db"}, nil, "hunter2"},
		{map[string]string{"DATABASE_URL": "postgres://u:hunter2%zzsecret@h/db"}, nil, "hunter2"},
		{map[string]string{"DATABASE_URL": "postgres://u:hunter2 secret@h/db"}, nil, "hunter2"},
		{map[string]string{"DATABASE_URL": "postgresql://h/db?password=hunter2secret&a=%zz"}, nil, "hunter2"},
		{map[string]string{"DATABASE_URL": "postgresql://u:hunter2secret@/db"}, nil, "hunter2"},
		{map[string]string{"DATABASE_URL": "mysql://u:hunter2secret@h/db"}, nil, "hunter2"},
	} {
		_, err := load(tt.env, tt.files)
		if err == nil {
			t.Errorf("%.60q: accepted", tt.env)
			continue
		}
		if strings.Contains(err.Error(), tt.secret) {
			t.Errorf("error %q leaks %q", err, tt.secret)
		}
	}
}

func TestReadSecretFile(t *testing.T) {
	dir := t.TempDir()
	ok := filepath.Join(dir, "ok")
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(ok, []byte(adminTok+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(big, make([]byte, MaxSecretFileBytes+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := ReadSecretFile(ok); err != nil || string(b) != adminTok+"\n" {
		t.Errorf("ReadSecretFile(ok) = %q, %v", b, err)
	}
	for _, p := range []string{big, dir, filepath.Join(dir, "missing"), "/dev/zero"} {
		if _, err := ReadSecretFile(p); err == nil {
			t.Errorf("ReadSecretFile(%s) accepted", p)
		}
	}
	// Load uses it when readFile is nil.
	env := map[string]string{"ADMIN_TOKEN_FILE": big}
	_, err := Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, nil, "v")
	checkRefused(t, "oversized file", err, "ADMIN_TOKEN_FILE", "larger than")
}

func TestSentryDSN(t *testing.T) {
	for _, dsn := range []string{
		"https://k@sentry.example/1",
		"https://publickey:secretkey@o123.ingest.sentry.io/4567",
		"http://k@localhost:9000/2",
		"https://k@sentry.example/some/path/3",
	} {
		c, err := load(map[string]string{"SENTRY_DSN": dsn}, nil)
		if err != nil || c.SentryDSN != dsn {
			t.Errorf("%q: %q, %v", dsn, c.SentryDSN, err)
		}
	}
	for _, tt := range []struct {
		env     map[string]string
		files   map[string]string
		wantVar string
		want    string
	}{
		{map[string]string{"SENTRY_DSN": "http://example.com"}, nil, "SENTRY_DSN", "empty username"},
		{map[string]string{"SENTRY_DSN": "https://key@example.com"}, nil, "SENTRY_DSN", "empty project id"},
		{map[string]string{"SENTRY_DSN": "https://key@example.com/"}, nil, "SENTRY_DSN", "empty project id"},
		{map[string]string{"SENTRY_DSN": "https://key@/1"}, nil, "SENTRY_DSN", "empty host"},
		{map[string]string{"SENTRY_DSN": "https://key@example.com:99999/1"}, nil, "SENTRY_DSN", "invalid port"},
		{map[string]string{"SENTRY_DSN": "https://key@example.com:x/1"}, nil, "SENTRY_DSN", "not a URL"},
		{map[string]string{"SENTRY_DSN": "ftp://key@example.com/1"}, nil, "SENTRY_DSN", "scheme"},
		{map[string]string{"SENTRY_DSN": "example.com/1"}, nil, "SENTRY_DSN", "scheme"},
		{map[string]string{"SENTRY_DSN": "not a dsn"}, nil, "SENTRY_DSN", "whitespace"},
		{map[string]string{"SENTRY_DSN": "https://key@example.com/1 "}, nil, "SENTRY_DSN", "whitespace"},
		{map[string]string{"SENTRY_DSN_FILE": "/d"}, map[string]string{"/d": "https://key@example.com/1\r\n"}, "SENTRY_DSN_FILE", "control"},
		{map[string]string{"SENTRY_DSN_FILE": "/d"}, map[string]string{"/d": "http://example.com\n"}, "SENTRY_DSN_FILE", "empty username"},
	} {
		_, err := load(tt.env, tt.files)
		checkRefused(t, fmt.Sprint(tt.env, tt.files), err, tt.wantVar, tt.want)
	}
}

func TestDatabaseURL(t *testing.T) {
	accepted := []struct {
		url  string
		want Database
	}{
		// The sqlite.PathFromURL cases, with the same paths.
		{"sqlite://data/ordersvc.db", Database{Driver: DriverSQLite, Path: "data/ordersvc.db"}},
		{"sqlite:///var/lib/x.db", Database{Driver: DriverSQLite, Path: "/var/lib/x.db"}},
		{"sqlite://./a/../b.db", Database{Driver: DriverSQLite, Path: "b.db"}},
		{"sqlite://with%20space/x.db", Database{Driver: DriverSQLite, Path: "with space/x.db"}},
		{"sqlite://relative/path.db", Database{Driver: DriverSQLite, Path: "relative/path.db"}},
		{"sqlite://x.db", Database{Driver: DriverSQLite, Path: "x.db"}},
		{"sqlite://literal%3Fmark.db", Database{Driver: DriverSQLite, Path: "literal?mark.db"}},
		{"postgres://db.example/orders", Database{Driver: DriverPostgres, URL: "postgres://db.example/orders"}},
		{"postgresql://u:p%40ss@db.example:5432/orders?sslmode=verify-full",
			Database{Driver: DriverPostgres, URL: "postgresql://u:p%40ss@db.example:5432/orders?sslmode=verify-full"}},
		{"postgres://x", Database{Driver: DriverPostgres, URL: "postgres://x"}},
		{"postgres://[::1]:5433/orders", Database{Driver: DriverPostgres, URL: "postgres://[::1]:5433/orders"}},
		{"postgres:///orders?host=/var/run/postgresql", Database{Driver: DriverPostgres, URL: "postgres:///orders?host=/var/run/postgresql"}},
		{"postgres://h1:5432,h2:5433/orders?target_session_attrs=read-write",
			Database{Driver: DriverPostgres, URL: "postgres://h1:5432,h2:5433/orders?target_session_attrs=read-write"}},
	}
	for _, tt := range accepted {
		c, err := load(map[string]string{"DATABASE_URL": tt.url}, nil)
		if err != nil || c.Database != tt.want || c.DatabaseURL != tt.url {
			t.Errorf("%q: %+v, %v; want %+v", tt.url, c.Database, err, tt.want)
		}
	}
	for _, tt := range []struct{ url, want string }{
		{"sqlite://x.db?mode=ro", "no query"},
		{"sqlite://x.db#frag", "no query"},
		{"sqlite://:memory:", ":memory:"},
		{"sqlite://%3Amemory%3A", ":memory:"},
		{"sqlite://dir/", "directory"},
		{"sqlite:///", "directory"},
		{"sqlite://dir%2F", "directory"},
		{"sqlite://.", "directory"},
		{"sqlite://data/..", "directory"},
		{"sqlite://", "no file path"},
		{"sqlite://bad%zz.db", "%-escape"},
		{"sqlite://x%00.db", "control"},
		{"sqlite:x.db", "must be sqlite://"},
		{"data.db", "must be sqlite://"},
		{"SQLITE://x.db", "must be sqlite://"},
		{"mysql://u:pw@h/db", "must be sqlite://"},
		{"postgres://", "no host"},
		{"postgres:///orders", "no host"},
		{"postgres://:5432/orders", "no host"},
		{"postgres://h:99999/orders", "invalid port"},
		{"postgres://h:0/orders", "invalid port"},
		{"postgres://u:p w@h/db", "whitespace"},
		{"postgres://h/db\n", "whitespace"},
		{"postgres://u:p%zz@h/db", "not a valid URL"},
		{"postgres://h:x/db", "not a valid URL"},
		{"postgres://h/db?a=%zz", "query"},
	} {
		_, err := load(map[string]string{"DATABASE_URL": tt.url}, nil)
		checkRefused(t, tt.url, err, "DATABASE_URL", tt.want)
	}
}

func TestDatabaseString(t *testing.T) {
	for _, tt := range []struct {
		d    Database
		want string
	}{
		{Database{Driver: DriverSQLite, Path: "data/x.db"}, "sqlite://data/x.db"},
		{Database{Driver: DriverPostgres, URL: "postgres://u:hunter2@h/db"}, "postgres://u:xxxxx@h/db"},
		{Database{Driver: DriverPostgres, URL: "postgres://h/db?password=hunter2&sslmode=require"}, "postgres://h/db?password=xxxxx&sslmode=require"},
		{Database{}, ""},
	} {
		if got := tt.d.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestSecrets(t *testing.T) {
	c, err := load(map[string]string{"ADMIN_TOKEN": adminTok, "ALERT_WEBHOOK_TOKEN": webhookTok,
		"SENTRY_DSN": "https://pubkey:seckey@sentry.example/1", "DATABASE_URL": "postgres://u:pgpass@h/db?sslpassword=sslpass"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Secrets()
	slices.Sort(got)
	want := []string{adminTok, "https://pubkey:seckey@sentry.example/1", webhookTok, "pgpass", "pubkey", "seckey", "sslpass"}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("Secrets() = %q, want %q", got, want)
	}
	if s, _ := load(nil, nil); len(s.Secrets()) != 0 {
		t.Errorf("defaults hold secrets: %q", s.Secrets())
	}
}

// TestNewVariables covers the SPEC §2 variables added with shutdown delay,
// the heartbeat, alert retention and tracing: every accepted and refused
// value.
func TestNewVariables(t *testing.T) {
	accepted := []struct {
		env   map[string]string
		check func(Config) bool
	}{
		{map[string]string{"SHUTDOWN_DELAY": "0"}, func(c Config) bool { return c.ShutdownDelay == 0 }},
		{map[string]string{"SHUTDOWN_DELAY": "0s"}, func(c Config) bool { return c.ShutdownDelay == 0 }},
		{map[string]string{"SHUTDOWN_DELAY": "250ms"}, func(c Config) bool { return c.ShutdownDelay == 250*time.Millisecond }},
		{map[string]string{"SHUTDOWN_DELAY": "5m"}, func(c Config) bool { return c.ShutdownDelay == 5*time.Minute }},
		{map[string]string{"SHUTDOWN_DELAY": ""}, func(c Config) bool { return c.ShutdownDelay == 5*time.Second }},
		{map[string]string{"SHUTDOWN_TIMEOUT": "10m"}, func(c Config) bool { return c.ShutdownTimeout == 10*time.Minute }},
		{map[string]string{"SHUTDOWN_TIMEOUT": "1ms"}, func(c Config) bool { return c.ShutdownTimeout == time.Millisecond }},
		{map[string]string{"HEARTBEAT_TIMEOUT": "0"}, func(c Config) bool { return c.HeartbeatTimeout == 0 }},
		{map[string]string{"HEARTBEAT_TIMEOUT": "5s"}, func(c Config) bool { return c.HeartbeatTimeout == 5*time.Second }},
		{map[string]string{"HEARTBEAT_TIMEOUT": "24h"}, func(c Config) bool { return c.HeartbeatTimeout == 24*time.Hour }},
		{map[string]string{"HEARTBEAT_TIMEOUT": "10m"}, func(c Config) bool { return c.HeartbeatTimeout == 10*time.Minute }},
		{map[string]string{"ALERT_RETENTION": "1h"}, func(c Config) bool { return c.AlertRetention == time.Hour }},
		{map[string]string{"ALERT_RETENTION": "1s"}, func(c Config) bool { return c.AlertRetention == time.Second }},
		{map[string]string{"ALERT_RETENTION": "87600h"}, func(c Config) bool { return c.AlertRetention == 87600*time.Hour }},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, func(c Config) bool {
			return c.OTLPEndpoint == "http://collector:4318" && c.OTLPTracesURL() == "http://collector:4318/v1/traces" && c.TracingEnabled()
		}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example/base/"}, func(c Config) bool {
			return c.OTLPTracesURL() == "https://otel.example/base/v1/traces"
		}},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/custom"}, func(c Config) bool {
			return c.OTLPTracesEndpoint == "http://127.0.0.1:4318/custom" && c.OTLPTracesURL() == "http://127.0.0.1:4318/custom"
		}},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://[::1]:4318/v1/traces"},
			func(c Config) bool { return c.OTLPTracesURL() == "http://[::1]:4318/v1/traces" }},
		{map[string]string{}, func(c Config) bool { return !c.TracingEnabled() && c.OTLPTracesURL() == "" }},
		{map[string]string{"OTEL_SERVICE_NAME": "checkout api"}, func(c Config) bool { return c.OTelServiceName == "checkout api" }},
		{map[string]string{"OTEL_SERVICE_NAME": strings.Repeat("s", 255)}, func(c Config) bool { return len(c.OTelServiceName) == 255 }},
		{map[string]string{"OTEL_TRACES_SAMPLER": "always_on"}, func(c Config) bool { return c.TracesSampler == SamplerAlwaysOn }},
		{map[string]string{"OTEL_TRACES_SAMPLER": "always_off"}, func(c Config) bool { return c.TracesSampler == SamplerAlwaysOff }},
		{map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio"}, func(c Config) bool { return c.TracesSampler == SamplerTraceIDRatio }},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_on"}, func(c Config) bool { return c.TracesSampler == SamplerParentBasedAlwaysOn }},
		{map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_always_off"}, func(c Config) bool { return c.TracesSampler == SamplerParentBasedAlwaysOff }},
		{map[string]string{"OTEL_TRACES_SAMPLER": "ParentBased_TraceIDRatio"}, func(c Config) bool { return c.TracesSampler == SamplerParentBasedTraceIDRatio }},
		{map[string]string{"OTEL_TRACES_SAMPLER_ARG": "0"}, func(c Config) bool { return c.TracesSamplerArg == 0 }},
		{map[string]string{"OTEL_TRACES_SAMPLER_ARG": "0.25"}, func(c Config) bool { return c.TracesSamplerArg == 0.25 }},
		{map[string]string{"OTEL_TRACES_SAMPLER_ARG": "1"}, func(c Config) bool { return c.TracesSamplerArg == 1 }},
		{map[string]string{"SENTRY_TRACES_SAMPLE_RATE": "0.5"}, func(c Config) bool { return c.SentryTracesSampleRate == 0.5 }},
	}
	for _, tt := range accepted {
		c, err := load(tt.env, nil)
		if err != nil || !tt.check(c) {
			t.Errorf("%.80v: %v; config %+v", tt.env, err, c)
		}
	}

	refused := []struct {
		name, value, want string
	}{
		{"SHUTDOWN_DELAY", "-1s", "from 0s to 5m"},
		{"SHUTDOWN_DELAY", "5m1s", "from 0s to 5m"},
		{"SHUTDOWN_DELAY", "5", "duration"},
		{"SHUTDOWN_DELAY", "soon", "duration"},
		{"SHUTDOWN_TIMEOUT", "0", "positive duration up to 10m"},
		{"SHUTDOWN_TIMEOUT", "11m", "positive duration up to 10m"},
		{"HEARTBEAT_TIMEOUT", "1s", "0 (off) or a duration from 5s to 24h"},
		{"HEARTBEAT_TIMEOUT", "4.9s", "from 5s"},
		{"HEARTBEAT_TIMEOUT", "-5m", "from 5s"},
		{"HEARTBEAT_TIMEOUT", "25h", "to 24h"},
		{"HEARTBEAT_TIMEOUT", "off", "duration"},
		{"ALERT_RETENTION", "0", "positive duration up to 87600h"},
		{"ALERT_RETENTION", "-1h", "positive"},
		{"ALERT_RETENTION", "87601h", "up to 87600h"},
		{"ALERT_RETENTION", "30d", "duration"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "http:// or https://"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://collector:4317", "http:// or https://"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://", "with a host"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http:///v1/traces", "with a host"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:99999", "invalid port"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:x", "http:// or https://"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318 ", "whitespace"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "localhost:4318/v1/traces", "http:// or https://"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://c/v1/traces", "http:// or https://"},
		{"OTEL_SERVICE_NAME", strings.Repeat("s", 256), "longer than 255 bytes"},
		{"OTEL_SERVICE_NAME", "orders\nvc", "control"},
		{"OTEL_SERVICE_NAME", "orders\xffvc", "UTF-8"},
		{"OTEL_TRACES_SAMPLER", "sometimes", "not one of always_on, always_off, traceidratio"},
		{"OTEL_TRACES_SAMPLER", "jaeger_remote", "not one of"},
		{"OTEL_TRACES_SAMPLER", "always on", "not one of"},
		{"OTEL_TRACES_SAMPLER_ARG", "1.5", "from 0 to 1"},
		{"OTEL_TRACES_SAMPLER_ARG", "-0.1", "from 0 to 1"},
		{"OTEL_TRACES_SAMPLER_ARG", "NaN", "from 0 to 1"},
		{"OTEL_TRACES_SAMPLER_ARG", "Inf", "from 0 to 1"},
		{"OTEL_TRACES_SAMPLER_ARG", "half", "from 0 to 1"},
		{"SENTRY_TRACES_SAMPLE_RATE", "+Inf", "from 0 to 1"},
	}
	for _, tt := range refused {
		_, err := load(map[string]string{tt.name: tt.value}, nil)
		checkRefused(t, tt.name+"="+tt.value, err, tt.name, tt.want)
	}
}

// TestEndpointCredentialsNeverInErrors: an OTLP endpoint may carry
// credentials; a refused one is never quoted.
func TestEndpointCredentialsNeverInErrors(t *testing.T) {
	for _, v := range []string{"grpc://u:otelsecret@c:4317", "http://u:otelsecret@c:99999", "http://u:otelsecret@c:x", "http://u:otelsecret@/x"} {
		for _, name := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"} {
			_, err := load(map[string]string{name: v}, nil)
			if err == nil || strings.Contains(err.Error(), "otelsecret") {
				t.Errorf("%s=%s: error %v accepts or leaks", name, v, err)
			}
		}
	}
}

// TestLoadIsPure: Load reads only the NAME_FILE secrets and creates
// nothing (SPEC §2: invalid configuration is detected before anything is
// created or opened).
func TestLoadIsPure(t *testing.T) {
	t.Chdir(t.TempDir())
	var read []string
	readFile := func(p string) ([]byte, error) { read = append(read, p); return []byte(adminTok + "\n"), nil }
	for _, env := range []map[string]string{
		{"DATABASE_URL": "sqlite://data/sub/ordersvc.db", "ADMIN_TOKEN_FILE": "/a", "ALERT_WEBHOOK_TOKEN_FILE": "/b"},
		{"DATABASE_URL": "sqlite://data/sub/ordersvc.db", "ADMIN_TOKEN_FILE": "/a", "ALERT_WEBHOOK_TOKEN_FILE": "/b", "CURRENCY": "bad"},
	} {
		read = nil
		_, _ = Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok }, readFile, "v")
		slices.Sort(read)
		if !slices.Equal(read, []string{"/a", "/b"}) {
			t.Errorf("%v: read %q, want only the two secret files", env, read)
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("Load created %v", entries)
	}
}
