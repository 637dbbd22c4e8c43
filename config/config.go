// Package config reads the service's configuration from the environment
// into one Config value and validates it. Secrets may be given inline
// (NAME) or as a path (NAME_FILE), never both.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config is the whole configuration of the server.
type Config struct {
	HTTPAddr               string
	DatabaseURL            string
	SentryDSN              string
	SentryEnvironment      string
	SentryRelease          string
	SentryTracesSampleRate float64
	AdminToken             string
	AlertWebhookToken      string
	LogLevel               slog.Level
	LogFormat              string // "json" or "text"
	ShutdownTimeout        time.Duration
	Currency               string
}

// Error names the variable whose value was refused. Its message is one
// line and never contains a secret.
type Error struct {
	Var    string
	Reason string
}

func (e *Error) Error() string { return e.Var + ": " + e.Reason }

// Load reads the configuration through lookup (os.LookupEnv in production)
// and readFile (os.ReadFile). defaultRelease is the build's version.
func Load(lookup func(string) (string, bool), readFile func(string) ([]byte, error), defaultRelease string) (Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	if readFile == nil {
		readFile = os.ReadFile
	}
	get := func(name, def string) string {
		if v, ok := lookup(name); ok && v != "" {
			return v
		}
		return def
	}
	c := Config{
		HTTPAddr:          get("HTTP_ADDR", ":8080"),
		DatabaseURL:       get("DATABASE_URL", "sqlite://data/ordersvc.db"),
		SentryEnvironment: get("SENTRY_ENVIRONMENT", "development"),
		SentryRelease:     get("SENTRY_RELEASE", defaultRelease),
		LogFormat:         strings.ToLower(get("LOG_FORMAT", "json")),
		Currency:          get("CURRENCY", "USD"),
	}
	var errs []error
	var err error
	for _, s := range []struct {
		name string
		dst  *string
	}{{"SENTRY_DSN", &c.SentryDSN}, {"ADMIN_TOKEN", &c.AdminToken}, {"ALERT_WEBHOOK_TOKEN", &c.AlertWebhookToken}} {
		if *s.dst, err = secret(lookup, readFile, s.name); err != nil {
			errs = append(errs, err)
		}
	}
	if err := checkAddr(c.HTTPAddr); err != nil {
		errs = append(errs, &Error{"HTTP_ADDR", err.Error()})
	}
	if !strings.HasPrefix(c.DatabaseURL, "sqlite://") || len(c.DatabaseURL) == len("sqlite://") {
		errs = append(errs, &Error{"DATABASE_URL", "must be sqlite://<path>"})
	}
	if c.SentryDSN != "" && !strings.HasPrefix(c.SentryDSN, "http://") && !strings.HasPrefix(c.SentryDSN, "https://") {
		errs = append(errs, &Error{"SENTRY_DSN", "must be an http(s) DSN"})
	}
	if v := get("SENTRY_TRACES_SAMPLE_RATE", "0"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r < 0 || r > 1 || r != r {
			errs = append(errs, &Error{"SENTRY_TRACES_SAMPLE_RATE", fmt.Sprintf("%q is not a number from 0 to 1", truncate(v))})
		}
		c.SentryTracesSampleRate = r
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("LOG_LEVEL", "info"))); err != nil {
		errs = append(errs, &Error{"LOG_LEVEL", fmt.Sprintf("%q is not one of debug, info, warn, error", truncate(get("LOG_LEVEL", "")))})
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		errs = append(errs, &Error{"LOG_FORMAT", fmt.Sprintf("%q is not json or text", truncate(c.LogFormat))})
	}
	if v := get("SHUTDOWN_TIMEOUT", "15s"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 || d > 10*time.Minute {
			errs = append(errs, &Error{"SHUTDOWN_TIMEOUT", fmt.Sprintf("%q is not a duration between 0s and 10m", truncate(v))})
		}
		c.ShutdownTimeout = d
	}
	if !isCurrencyCode(c.Currency) {
		errs = append(errs, &Error{"CURRENCY", fmt.Sprintf("%q is not a three-letter ISO 4217 code", truncate(c.Currency))})
	}
	if len(errs) > 0 {
		return Config{}, errs[0]
	}
	return c, nil
}

// secret reads NAME or the file named by NAME_FILE. Whitespace around a
// file's content (the trailing newline editors add) is dropped.
func secret(lookup func(string) (string, bool), readFile func(string) ([]byte, error), name string) (string, error) {
	inline, hasInline := lookup(name)
	path, hasFile := lookup(name + "_FILE")
	hasInline = hasInline && inline != ""
	hasFile = hasFile && path != ""
	switch {
	case hasInline && hasFile:
		return "", &Error{name, "set either " + name + " or " + name + "_FILE, not both"}
	case hasFile:
		b, err := readFile(path)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err // the path is in the message already; keep it one line
			}
			return "", &Error{name + "_FILE", fmt.Sprintf("cannot read %q: %v", truncate(path), err)}
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", &Error{name + "_FILE", fmt.Sprintf("%q is empty", truncate(path))}
		}
		return v, nil
	default:
		return inline, nil
	}
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", truncate(addr))
	}
	if host != "" && net.ParseIP(host) == nil && strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q has an invalid host", truncate(addr))
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return fmt.Errorf("%q has an invalid port", truncate(addr))
	}
	return nil
}

func isCurrencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for i := 0; i < 3; i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

// truncate keeps refused values short and printable in the one-line reason.
func truncate(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)[1 : len(strconv.Quote(s))-1]
}
