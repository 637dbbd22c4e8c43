package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

// defaultURL is the -url default: a server started with go run ./cmd/server.
const defaultURL = "http://127.0.0.1:8080"

// config is everything the command line sets.
type config struct {
	opts        loadgen.Options
	rawURL      string
	allowRemote bool
	adminToken  string
	rawFaults   string
	faults      []byte // parsed -faults; nil when not given
	jsonOut     bool
	progress    bool
}

// newConfig returns the defaults.
func newConfig() *config {
	return &config{
		rawURL:   defaultURL,
		progress: true,
		opts:     loadgen.DefaultOptions(nil), // the URL is set by finish
	}
}

// finish validates the parsed flags and fills the derived fields. args
// are the positional arguments (none are accepted); getenv supplies
// ADMIN_TOKEN (or ADMIN_TOKEN_FILE) when -admin-token is not given.
func (c *config) finish(args []string, getenv func(string) string) error {
	if len(args) > 0 {
		return fmt.Errorf("unexpected argument %q (flags only)", args[0])
	}
	u, err := parseTarget(c.rawURL, c.allowRemote)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	c.opts.BaseURL = u
	o := &c.opts
	if err := o.Validate(); err != nil {
		return fmt.Errorf("-%w", err)
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64() // printed at the start, so the run can be repeated
	}
	if c.adminToken == "" {
		c.adminToken = getenv("ADMIN_TOKEN")
	}
	if path := getenv("ADMIN_TOKEN_FILE"); c.adminToken == "" && path != "" {
		// The compose stack hands the token over as a secret file.
		b, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("ADMIN_TOKEN_FILE: %w", err)
		}
		c.adminToken = strings.TrimSpace(string(b))
	}
	if c.rawFaults != "" {
		if c.faults, err = parseFaults(c.rawFaults); err != nil {
			return fmt.Errorf("-faults: %w", err)
		}
		if c.adminToken == "" {
			return errors.New("-faults needs -admin-token (or ADMIN_TOKEN)")
		}
	}
	return nil
}

// parseTarget parses the base URL and refuses hosts that are not loopback
// unless allowRemote: a load generator pointed at the wrong host by a typo
// is a denial of service. Loopback means an IP literal in 127.0.0.0/8 or
// ::1, or the name localhost; other names are not resolved, since what a
// name resolves to can change between this check and the run.
func parseTarget(raw string, allowRemote bool) (*url.URL, error) {
	if !strings.Contains(raw, "://") {
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", raw)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%q: want an http:// or https:// URL", raw)
	case u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("%q: no host", raw)
	case u.User != nil:
		return nil, fmt.Errorf("%q: credentials in the URL are not supported", u.Redacted())
	case u.RawQuery != "" || u.Fragment != "":
		return nil, fmt.Errorf("%q: want a base URL without query or fragment", raw)
	}
	if !allowRemote && !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("host %q is not loopback; pass -allow-remote to load a remote host", u.Hostname())
	}
	return u, nil
}

// isLoopback reports whether host is a loopback IP literal or localhost.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// describe returns the one-line summary printed when a run starts.
func (c *config) describe() string {
	o := &c.opts
	var b strings.Builder
	fmt.Fprintf(&b, "loadgen: %s", strings.TrimSuffix(o.BaseURL.String(), "/"))
	if o.Rate > 0 {
		fmt.Fprintf(&b, ", rate %g/s, at most %d in flight", o.Rate, o.EffectiveConcurrency())
	} else {
		fmt.Fprintf(&b, ", flat out with %d workers", o.EffectiveConcurrency())
	}
	fmt.Fprintf(&b, ", mix %s", o.Mix)
	switch {
	case o.Duration > 0 && o.Requests > 0:
		fmt.Fprintf(&b, ", stop after %v or %d requests", o.Duration, o.Requests)
	case o.Duration > 0:
		fmt.Fprintf(&b, ", stop after %v", o.Duration)
	case o.Requests > 0:
		fmt.Fprintf(&b, ", stop after %d requests", o.Requests)
	default:
		b.WriteString(", until interrupted")
	}
	fmt.Fprintf(&b, ", seed %d", o.Seed)
	if c.faults != nil {
		fmt.Fprintf(&b, ", faults %s", c.faults)
	}
	return b.String()
}
