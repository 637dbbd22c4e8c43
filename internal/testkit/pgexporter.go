package testkit

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"
)

// PostgresExporterPackage is the Debian package that ships
// postgres_exporter as /usr/bin/prometheus-postgres-exporter.
const PostgresExporterPackage = "prometheus-postgres-exporter"

// postgresExporterNames are the names postgres_exporter goes by: Debian's,
// then upstream's release binary.
var postgresExporterNames = []string{"prometheus-postgres-exporter", "postgres_exporter"}

// ErrNoPostgresExporter means postgres_exporter was not found.
var ErrNoPostgresExporter = errors.New("postgres_exporter not found (prometheus-postgres-exporter or postgres_exporter on PATH, or /usr/bin/prometheus-postgres-exporter); install the Debian package " + PostgresExporterPackage)

// FindPostgresExporter returns the path of postgres_exporter: on PATH under
// either of its names, else Debian's /usr/bin path (PATH may be minimal).
func FindPostgresExporter() (string, error) {
	for _, name := range postgresExporterNames {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	const debian = "/usr/bin/prometheus-postgres-exporter"
	if fi, err := os.Stat(debian); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return debian, nil
	}
	return "", ErrNoPostgresExporter
}

// PostgresExporterBinary returns postgres_exporter's path, or ends the
// test: a failure when CI=true (a CI machine must have it, and a skipped
// scale-out test would look green), a skip naming the Debian package
// otherwise.
func PostgresExporterBinary(t testing.TB) string {
	t.Helper()
	p, err := FindPostgresExporter()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true, so this fails instead of skipping: %v", err)
		}
		t.Skipf("skipping: %v", err)
	}
	return p
}

// StartPostgresExporter runs postgres_exporter on a free port of 127.0.0.1,
// watching the server of dsn (a libpq URL, passed as DATA_SOURCE_NAME so
// that it never shows in a process listing), and waits until its /metrics
// answers. It returns the process, stopped by PID when the test ends, and
// its address (host:port). It skips or fails the test, as
// PostgresExporterBinary does, when the binary is missing.
func StartPostgresExporter(t testing.TB, dsn string) (*Proc, string) {
	t.Helper()
	bin := PostgresExporterBinary(t)
	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	p := StartProc(t, "postgres-exporter", bin, []string{
		"--web.listen-address=" + addr,
		// pg_settings is some 300 series of server settings that no rule
		// or dashboard reads; a one-second scrape need not carry them.
		"--disable-settings-metrics",
	}, ProcOptions{Env: []string{"DATA_SOURCE_NAME=" + dsn}})
	p.WaitReady(t, "http://"+addr+"/metrics", ServiceStartTimeout)
	return p, addr
}
