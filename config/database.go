package config

import (
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Database drivers DATABASE_URL selects.
const (
	// DriverSQLite is the embedded, zero-setup store (one replica).
	DriverSQLite = "sqlite"
	// DriverPostgres is a shared PostgreSQL server (any number of replicas).
	DriverPostgres = "postgres"
)

// URL prefixes DATABASE_URL accepts (case-sensitive, like the drivers).
const (
	sqlitePrefix     = "sqlite://"
	postgresPrefix   = "postgres://"
	postgresqlPrefix = "postgresql://"
)

// redacted replaces a password in Database.String.
const redacted = "xxxxx"

// Database is the store DATABASE_URL selects, parsed and validated.
type Database struct {
	// Driver is DriverSQLite or DriverPostgres.
	Driver string
	// Path is the SQLite database file, unescaped and cleaned (sqlite
	// only). It names a file, never a directory or :memory:.
	Path string
	// URL is the libpq URL as given (postgres only). It may hold a
	// password: log String() instead.
	URL string
}

// String describes d for logs: the SQLite path, or the postgres URL with
// any password (user info or password= parameter) redacted.
func (d Database) String() string {
	switch d.Driver {
	case DriverSQLite:
		return sqlitePrefix + d.Path
	case DriverPostgres:
		u, err := url.Parse(d.URL)
		if err != nil {
			return DriverPostgres + "://" + redacted
		}
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, redacted)
			}
		}
		u.RawQuery = q.Encode()
		return u.Redacted()
	}
	return ""
}

// passwords returns the secrets d holds (a postgres password, in the user
// info or as a password= parameter).
func (d Database) passwords() []string {
	if d.Driver != DriverPostgres {
		return nil
	}
	u, err := url.Parse(d.URL)
	if err != nil {
		return nil
	}
	var out []string
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	for k, vs := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			for _, v := range vs {
				if v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// parseDatabase parses DATABASE_URL. The reason it returns for a refused
// value never contains a postgres URL (nor its password).
func parseDatabase(raw string) (Database, string) {
	switch {
	case strings.HasPrefix(raw, sqlitePrefix):
		return parseSQLite(raw)
	case strings.HasPrefix(raw, postgresPrefix), strings.HasPrefix(raw, postgresqlPrefix):
		return parsePostgres(raw)
	}
	return Database{}, "must be sqlite://<path> or a postgres:// or postgresql:// (libpq) URL"
}

// parseSQLite accepts sqlite://relative/path.db and sqlite:///abs/path.db.
// It refuses a query or fragment, an empty path, a trailing slash,
// :memory: (the read and write pools would see different databases), paths
// that name a directory after unescaping or cleaning (".", "..", "%2F"),
// and control characters.
func parseSQLite(raw string) (Database, string) {
	rest := strings.TrimPrefix(raw, sqlitePrefix)
	q := truncate(raw)
	if strings.ContainsAny(rest, "?#") {
		return Database{}, fmt.Sprintf("%q: a sqlite URL takes no query or fragment (the service sets the options)", q)
	}
	p, err := url.PathUnescape(rest)
	if err != nil {
		return Database{}, fmt.Sprintf("%q has an invalid %%-escape", q)
	}
	switch {
	case p == "":
		return Database{}, "sqlite URL has no file path (want sqlite://<path>)"
	case p == ":memory:":
		return Database{}, "sqlite://:memory: is not supported: the read and write pools would see different databases"
	case strings.HasSuffix(rest, "/") || strings.HasSuffix(p, "/"):
		return Database{}, fmt.Sprintf("%q ends with a slash: that names a directory, not a database file", q)
	case !utf8.ValidString(p) || strings.ContainsFunc(p, isControl):
		return Database{}, fmt.Sprintf("%q: the path contains control characters or invalid UTF-8", q)
	}
	if base := path.Base(p); base == "." || base == ".." {
		return Database{}, fmt.Sprintf("%q names a directory, not a database file", q)
	}
	return Database{Driver: DriverSQLite, Path: filepath.Clean(p)}, ""
}

// parsePostgres accepts a libpq URL that net/url parses and that names a
// host, in the authority or as a host= parameter (a Unix socket
// directory). The URL is kept as given for the driver.
func parsePostgres(raw string) (Database, string) {
	if strings.ContainsFunc(raw, isSpaceOrControl) || !utf8.ValidString(raw) {
		return Database{}, "the postgres URL contains whitespace or control characters (percent-encode them)"
	}
	u, err := url.Parse(raw) // its error would quote the URL and its password: not used
	if err != nil {
		return Database{}, "the postgres URL is not a valid URL (percent-encode special characters in the user and password)"
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Database{}, "the postgres URL has an invalid query string"
	}
	if u.Hostname() == "" && q.Get("host") == "" {
		return Database{}, "the postgres URL names no host (want postgres://user@host/db or ?host=/socket/dir)"
	}
	if p := u.Port(); p != "" && !strings.Contains(u.Host, ",") && !isPort(p) {
		return Database{}, "the postgres URL has an invalid port (want 1..65535)"
	}
	return Database{Driver: DriverPostgres, URL: raw}, ""
}

// isControl reports control and invisible format characters (a path may
// hold spaces, not these).
func isControl(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }
