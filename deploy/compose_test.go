// Package deploy_test checks the container deployment statically — there is
// no Docker engine in CI: docker-compose.yaml is loaded with the Compose
// specification's reference loader (compose-go), the Dockerfile and
// .dockerignore are parsed, and the configuration files the stack mounts
// (prometheus/prometheus.yml, alertmanager/alertmanager.yml, the Grafana
// provisioning) are cross-checked against the compose services, ports,
// mounts and secrets they rely on.
package deploy_test

import (
	"context"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/ordersvc/ordersvc/internal/dashboards"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// coreServices are the services `docker compose up` must start.
var coreServices = []string{"app", "app-2", "postgres", "postgres-exporter", "prometheus", "alertmanager", "grafana", "jaeger"}

// Names the stack's configs rely on: the PostgreSQL service, its exporter
// (prometheus.yml's postgres job), Jaeger (the apps' OTLP endpoint and
// Grafana's jaeger datasource).
const (
	postgresService = "postgres"
	exporterService = "postgres-exporter"
	jaegerService   = "jaeger"
)

// appReplicas returns the services that run the service binary (built from
// the Dockerfile's server stage), sorted.
func appReplicas(p *types.Project) []string {
	var out []string
	for name, s := range p.Services {
		if s.Build != nil && s.Build.Target == "server" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// loadProject loads docker-compose.yaml as `docker compose` would, with an
// empty environment (so every ${VAR:-default} takes its default) plus env,
// and the given profiles enabled.
func loadProject(t *testing.T, env map[string]string, profiles ...string) *types.Project {
	t.Helper()
	root := testkit.RepoRoot(t)
	if env == nil {
		env = map[string]string{}
	}
	details := types.ConfigDetails{
		WorkingDir:  root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yaml")}},
		Environment: env,
	}
	p, err := loader.LoadWithContext(context.Background(), details, loader.WithProfiles(profiles))
	if err != nil {
		t.Fatalf("load docker-compose.yaml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, ok := p.Services[name]
	if !ok {
		t.Fatalf("docker-compose.yaml has no service %q (services: %v)", name, p.ServiceNames())
	}
	return s
}

func TestComposeServices(t *testing.T) {
	p := loadProject(t, nil)
	for _, name := range coreServices {
		s := service(t, p, name)
		if len(s.Profiles) > 0 {
			t.Errorf("service %s is behind profiles %v; `docker compose up` must start it", name, s.Profiles)
		}
		if s.Restart == "" {
			t.Errorf("service %s has no restart policy", name)
		}
	}
	if p.Name != "ordersvc" {
		t.Errorf("project name %q, want ordersvc", p.Name)
	}
}

func TestComposeLoadgenOnlyInProfile(t *testing.T) {
	p := loadProject(t, nil)
	if _, ok := p.Services["loadgen"]; ok {
		t.Error("loadgen runs on a plain `docker compose up`; it belongs to the loadgen profile only")
	}
	if _, ok := p.DisabledServices["loadgen"]; !ok {
		t.Errorf("no loadgen service behind a profile (disabled services: %v)", keys(p.DisabledServices))
	}
	withProfile := loadProject(t, nil, "loadgen")
	lg := service(t, withProfile, "loadgen")
	if !slices.Equal(lg.Profiles, []string{"loadgen"}) {
		t.Errorf("loadgen profiles = %v, want [loadgen]", lg.Profiles)
	}
	if lg.Build == nil || lg.Build.Context != testkit.RepoRoot(t) || lg.Build.Target != "loadgen" {
		t.Errorf("loadgen build = %+v, want this repository's Dockerfile, target loadgen", lg.Build)
	}
	url := flagValue(lg.Command, "url")
	if err := checkServiceURL(withProfile, url, "app", "http", "", ""); err != nil {
		t.Errorf("loadgen -url: %v", err)
	}
	if !slices.Contains(lg.Command, "-allow-remote") {
		t.Error("loadgen targets the app container, which is not loopback: it needs -allow-remote")
	}
	if _, ok := lg.DependsOn["app"]; !ok {
		t.Error("loadgen does not depend on app")
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// flagValue returns the value of -name or --name in a command, written as
// "-name value" or "-name=value".
func flagValue(cmd []string, name string) string {
	for i, arg := range cmd {
		a := strings.TrimLeft(arg, "-")
		if a == arg {
			continue // not a flag
		}
		if k, v, ok := strings.Cut(a, "="); ok && k == name {
			return v
		}
		if a == name && i+1 < len(cmd) {
			return cmd[i+1]
		}
	}
	return ""
}

func TestFlagValue(t *testing.T) {
	cmd := []string{"-url", "http://app:8080", "--config.file=/etc/x.yml", "-v", "-rate=5"}
	for name, want := range map[string]string{"url": "http://app:8080", "config.file": "/etc/x.yml", "rate": "5", "missing": ""} {
		if got := flagValue(cmd, name); got != want {
			t.Errorf("flagValue(%q) = %q, want %q", name, got, want)
		}
	}
}

// listenPorts returns the container ports a service listens on: the
// targets of its port mappings and its exposed ports.
func listenPorts(s types.ServiceConfig) []string {
	var out []string
	for _, p := range s.Ports {
		out = append(out, strconv.Itoa(int(p.Target)))
	}
	for _, e := range s.Expose {
		out = append(out, strings.SplitN(e, "/", 2)[0])
	}
	return out
}

// checkHostPort fails unless hostport ("app:8080") names a compose service
// (want, if set) on a port it listens on. "localhost" means self.
func checkHostPort(p *types.Project, hostport, want, self string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q: %v", hostport, err)
	}
	if (host == "localhost" || host == "127.0.0.1") && self != "" {
		host = self
	}
	if want != "" && host != want {
		return fmt.Errorf("%q: host %q, want the compose service %q", hostport, host, want)
	}
	s, ok := p.Services[host]
	if !ok {
		return fmt.Errorf("%q: %q is not a compose service (services: %v)", hostport, host, p.ServiceNames())
	}
	if !slices.Contains(listenPorts(s), port) {
		return fmt.Errorf("%q: service %s listens on %v, not %s", hostport, host, listenPorts(s), port)
	}
	return nil
}

// checkServiceURL checks a URL's scheme, host:port (see checkHostPort) and,
// when path is set, its path.
func checkServiceURL(p *types.Project, raw, want, scheme, path, self string) error {
	scheme0, rest, ok := strings.Cut(raw, "://")
	if !ok || scheme0 != scheme {
		return fmt.Errorf("%q: want a %s:// URL", raw, scheme)
	}
	hostport, gotPath, _ := strings.Cut(rest, "/")
	// User info (postgres://user@host) is not part of the address.
	if at := strings.LastIndexByte(hostport, '@'); at >= 0 {
		hostport = hostport[at+1:]
	}
	if path != "" && "/"+gotPath != path {
		return fmt.Errorf("%q: path /%s, want %s", raw, gotPath, path)
	}
	return checkHostPort(p, hostport, want, self)
}

func TestComposePorts(t *testing.T) {
	p := loadProject(t, nil)
	tests := []struct {
		service string
		port    uint32
	}{
		{"app", 8080}, {"prometheus", 9090}, {"alertmanager", 9093}, {"grafana", 3000}, {jaegerService, 16686},
	}
	published := map[string]string{}
	for _, tt := range tests {
		s := service(t, p, tt.service)
		i := slices.IndexFunc(s.Ports, func(pc types.ServicePortConfig) bool {
			return pc.Target == tt.port && pc.Published == strconv.Itoa(int(tt.port))
		})
		if i < 0 {
			t.Errorf("service %s does not publish %d:%d (ports %+v)", tt.service, tt.port, tt.port, s.Ports)
		}
	}
	// Every replica is reachable from the host on a port of its own.
	for _, name := range appReplicas(p) {
		s := service(t, p, name)
		if !slices.ContainsFunc(s.Ports, func(pc types.ServicePortConfig) bool { return pc.Target == 8080 && pc.Published != "" }) {
			t.Errorf("replica %s publishes no host port for its :8080 (ports %+v)", name, s.Ports)
		}
	}
	// The database and its exporter hold or hand out the database
	// password's reach: only the compose network sees them.
	for _, name := range []string{postgresService, exporterService} {
		if s := service(t, p, name); len(s.Ports) > 0 {
			t.Errorf("service %s publishes %+v on the host; it is for the compose network only", name, s.Ports)
		}
	}
	for name, s := range p.Services {
		for _, pc := range s.Ports {
			if prev, dup := published[pc.Published]; dup && pc.Published != "" {
				t.Errorf("host port %s published by %s and %s", pc.Published, prev, name)
			}
			published[pc.Published] = name
		}
	}
	if err := checkHostPort(p, "app:9999", "app", ""); err == nil {
		t.Error("checkHostPort accepted a port the app does not listen on")
	}
	if err := checkHostPort(p, "nosuch:8080", "", ""); err == nil {
		t.Error("checkHostPort accepted a host that is not a service")
	}
}

func TestComposeBindMounts(t *testing.T) {
	root := testkit.RepoRoot(t)
	p := loadProject(t, nil, "*")
	// The mounts the other config files rely on (SPEC §1, §2).
	tests := []struct {
		service, source, target string
		dir                     bool
	}{
		{"prometheus", "prometheus/prometheus.yml", "/etc/prometheus/prometheus.yml", false},
		{"prometheus", "rules", "/etc/prometheus/rules", true},
		{"alertmanager", "alertmanager", "/etc/alertmanager", true},
		{"grafana", "grafana/provisioning", "/etc/grafana/provisioning", true},
		{"grafana", "grafana/dashboards", "/var/lib/grafana/dashboards", true},
	}
	for _, tt := range tests {
		s := service(t, p, tt.service)
		i := slices.IndexFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeBind && v.Target == tt.target
		})
		if i < 0 {
			t.Errorf("service %s: nothing bind-mounted at %s", tt.service, tt.target)
			continue
		}
		if v := s.Volumes[i]; v.Source != filepath.Join(root, tt.source) || !v.ReadOnly {
			t.Errorf("service %s: %s ← %s (read-only %v), want ./%s read-only", tt.service, tt.target, v.Source, v.ReadOnly, tt.source)
		}
	}
	// Every bind mount of every service (profiles included) is a file or
	// directory of this repository that exists, of the kind expected.
	for name, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				if v.Type == types.VolumeTypeVolume {
					if _, ok := p.Volumes[v.Source]; !ok {
						t.Errorf("service %s: named volume %q is not declared", name, v.Source)
					}
				}
				continue
			}
			rel, err := filepath.Rel(root, v.Source)
			if err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("service %s: bind mount %s is outside the repository", name, v.Source)
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s: bind mount source ./%s: %v", name, rel, err)
			}
		}
	}
}

// TestComposeSecrets checks that secrets reach the containers as files, that
// every *_FILE variable pointing into /run/secrets names a secret the
// service is granted, that no service gets a secret in plain environment,
// and that the demo secret files exist and are marked as examples.
func TestComposeSecrets(t *testing.T) {
	root := testkit.RepoRoot(t)
	p := loadProject(t, nil, "*")
	for _, name := range []string{"admin_token", "alert_webhook_token", "postgres_password", "postgres_pgpass"} {
		sec, ok := p.Secrets[name]
		if !ok {
			t.Errorf("no compose secret %q", name)
			continue
		}
		if want := filepath.Join(root, "secrets", name+".example"); sec.File != want {
			t.Errorf("secret %s: file %s, want %s by default", name, sec.File, want)
		}
	}
	for name, sec := range p.Secrets {
		if sec.File == "" {
			t.Errorf("secret %s: want a file secret", name)
			continue
		}
		b, err := os.ReadFile(sec.File)
		if err != nil {
			t.Errorf("secret %s: %v", name, err)
			continue
		}
		if strings.TrimSpace(string(b)) == "" {
			t.Errorf("secret %s: %s is empty", name, sec.File)
		}
	}
	appEnv := map[string]string{
		"ADMIN_TOKEN_FILE":         "/run/secrets/admin_token",
		"ALERT_WEBHOOK_TOKEN_FILE": "/run/secrets/alert_webhook_token",
		"PGPASSFILE":               "/run/secrets/postgres_pgpass",
	}
	wantEnv := map[string]map[string]string{
		"app":           appEnv,
		"app-2":         appEnv,
		postgresService: {"POSTGRES_PASSWORD_FILE": "/run/secrets/postgres_password"},
		exporterService: {"DATA_SOURCE_PASS_FILE": "/run/secrets/postgres_password"},
	}
	for svcName, env := range wantEnv {
		s := service(t, p, svcName)
		for k, want := range env {
			if got := s.Environment[k]; got == nil || *got != want {
				t.Errorf("service %s: %s = %v, want %s", svcName, k, deref(got), want)
			}
		}
	}
	plaintext := []string{"ADMIN_TOKEN", "ALERT_WEBHOOK_TOKEN", "GF_SECURITY_ADMIN_PASSWORD", "SENTRY_DSN_FILE",
		"POSTGRES_PASSWORD", "PGPASSWORD", "DATA_SOURCE_PASS", "DATA_SOURCE_NAME"}
	var secretValues []string
	for _, sec := range p.Secrets {
		if b, err := os.ReadFile(sec.File); err == nil && strings.TrimSpace(string(b)) != "" {
			secretValues = append(secretValues, strings.TrimSpace(string(b)))
		}
	}
	for svcName, s := range p.Services {
		granted := secretPaths(s)
		for k, v := range s.Environment {
			if slices.Contains(plaintext, k) && v != nil && *v != "" {
				t.Errorf("service %s: %s is set in plain environment; use a secret file", svcName, k)
			}
			if v == nil {
				continue
			}
			if pw, ok := urlPassword(*v); ok {
				t.Errorf("service %s: %s is a URL with a password (%d bytes); pass it as a secret file", svcName, k, len(pw))
			}
			for _, sv := range secretValues {
				if strings.Contains(*v, sv) {
					t.Errorf("service %s: %s holds the content of a secret file", svcName, k)
				}
			}
			if !strings.HasPrefix(*v, "/run/secrets/") {
				continue
			}
			if !isFileVar(k) {
				t.Errorf("service %s: %s points into /run/secrets but is not a *_FILE variable", svcName, k)
			}
			if _, ok := granted[*v]; !ok {
				t.Errorf("service %s: %s=%s, but the service is granted only %v", svcName, k, *v, keys(granted))
			}
		}
		for _, ref := range s.Secrets {
			if _, ok := p.Secrets[ref.Source]; !ok {
				t.Errorf("service %s: secret %q is not declared", svcName, ref.Source)
			}
		}
	}
	// Only demo files live in secrets/: a real token must never be committed.
	entries, err := os.ReadDir(filepath.Join(root, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "README.md" && !strings.HasSuffix(e.Name(), ".example") {
			t.Errorf("secrets/%s: only *.example demo files and README.md belong in secrets/", e.Name())
		}
	}
}

// TestComposeSecretOverride proves the demo secrets can be replaced without
// editing tracked files, as secrets/README.md documents.
func TestComposeSecretOverride(t *testing.T) {
	own := filepath.Join(t.TempDir(), "token")
	p := loadProject(t, map[string]string{"ADMIN_TOKEN_SECRET_FILE": own})
	if got := p.Secrets["admin_token"].File; got != own {
		t.Errorf("with ADMIN_TOKEN_SECRET_FILE=%s, admin_token file = %s", own, got)
	}
}

// isFileVar reports whether an environment variable names a file to read
// a secret from: the *_FILE convention (Grafana's __FILE included) and
// libpq's PGPASSFILE.
func isFileVar(name string) bool {
	return strings.HasSuffix(name, "_FILE") || name == "PGPASSFILE"
}

// urlPassword returns the password in the user info of a URL value.
func urlPassword(v string) (string, bool) {
	if !strings.Contains(v, "://") {
		return "", false
	}
	u, err := url.Parse(v)
	if err != nil || u.User == nil {
		return "", false
	}
	pw, ok := u.User.Password()
	return pw, ok && pw != ""
}

func TestSecretHelpers(t *testing.T) {
	for name, want := range map[string]bool{"ADMIN_TOKEN_FILE": true, "GF_SECURITY_ADMIN_PASSWORD__FILE": true, "PGPASSFILE": true, "PGPASSWORD": false, "FILE": false} {
		if got := isFileVar(name); got != want {
			t.Errorf("isFileVar(%q) = %v, want %v", name, got, want)
		}
	}
	for v, want := range map[string]bool{
		"postgres://u:secret@postgres:5432/db": true, "postgres://u@postgres/db": false, "postgres://u:@h/db": false,
		"http://jaeger:4318": false, "/run/secrets/x": false, "a:b@c": false,
	} {
		if _, got := urlPassword(v); got != want {
			t.Errorf("urlPassword(%q) = %v, want %v", v, got, want)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

// secretPaths maps the container paths of a service's secrets to their
// compose secret names.
func secretPaths(s types.ServiceConfig) map[string]string {
	out := map[string]string{}
	for _, ref := range s.Secrets {
		target := ref.Target
		switch {
		case target == "":
			target = "/run/secrets/" + ref.Source
		case !filepath.IsAbs(target):
			target = "/run/secrets/" + target
		}
		out[target] = ref.Source
	}
	return out
}

func TestComposeHealthchecks(t *testing.T) {
	p := loadProject(t, nil)
	tests := []struct{ service, url string }{
		{"prometheus", "http://localhost:9090/-/healthy"},
		{"alertmanager", "http://localhost:9093/-/healthy"},
		{"grafana", "http://localhost:3000/api/health"},
		{exporterService, "http://localhost:9187/"},
		// Jaeger v2's healthcheckv2 extension (all-in-one configuration).
		{jaegerService, "http://localhost:13133/status"},
	}
	for _, tt := range tests {
		s := service(t, p, tt.service)
		if s.HealthCheck == nil || s.HealthCheck.Disable || len(s.HealthCheck.Test) < 2 || s.HealthCheck.Test[0] != "CMD" {
			t.Errorf("service %s: healthcheck %+v, want an exec-form CMD check", tt.service, s.HealthCheck)
			continue
		}
		if !slices.Contains(s.HealthCheck.Test, tt.url) {
			t.Errorf("service %s: healthcheck %v does not probe %s", tt.service, s.HealthCheck.Test, tt.url)
		}
	}
	// Every service `docker compose up` starts reports its health, so that
	// `docker compose ps` shows a broken one and dependants can wait.
	for _, name := range coreServices {
		if hc := service(t, p, name).HealthCheck; hc == nil || hc.Disable {
			t.Errorf("service %s has no healthcheck", name)
		}
	}
	// PostgreSQL is ready when it accepts connections over TCP for the
	// service's role and database: the image's initialisation runs a
	// temporary server on the Unix socket only, which must not count.
	pg := service(t, p, postgresService)
	if hc := pg.HealthCheck; hc == nil || len(hc.Test) < 2 || hc.Test[0] != "CMD" || hc.Test[1] != "pg_isready" {
		t.Errorf("postgres: healthcheck %+v, want an exec-form pg_isready", hc)
	} else {
		for flag, want := range map[string]string{"h": "127.0.0.1", "U": deref(pg.Environment["POSTGRES_USER"]), "d": deref(pg.Environment["POSTGRES_DB"])} {
			if got := flagValue(hc.Test, flag); got != want {
				t.Errorf("postgres: pg_isready -%s %q, want %q", flag, got, want)
			}
		}
	}
	// depends_on conditions only wait on services that can become healthy.
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionHealthy && p.Services[dep].HealthCheck == nil {
				t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
}

// TestComposeAppReplicas checks the scale-out topology (SPEC §2): at least
// two replicas of the service, configured identically, on the PostgreSQL
// service, each waiting for it to be healthy, with tracing to Jaeger.
func TestComposeAppReplicas(t *testing.T) {
	root := testkit.RepoRoot(t)
	p := loadProject(t, nil)
	replicas := appReplicas(p)
	if len(replicas) < 2 || !slices.Contains(replicas, "app") {
		t.Fatalf("replicas of the service: %v, want app and at least one more", replicas)
	}
	first := service(t, p, replicas[0])
	for _, name := range replicas {
		s := service(t, p, name)
		if s.Build == nil || s.Build.Context != root {
			t.Errorf("%s: build = %+v, want this repository", name, s.Build)
		}
		if s.Image != first.Image {
			t.Errorf("%s runs image %q, %s %q: the replicas must run the same build", name, s.Image, first.Name, first.Image)
		}
		// Same configuration: one service, whichever replica answers.
		if !maps.EqualFunc(s.Environment, first.Environment, func(a, b *string) bool { return deref(a) == deref(b) }) {
			t.Errorf("%s and %s have different environments", name, first.Name)
		}
		if !slices.Equal(secretNames(s), secretNames(first)) {
			t.Errorf("%s has secrets %v, %s %v", name, secretNames(s), first.Name, secretNames(first))
		}
		if err := checkServiceURL(p, deref(s.Environment["DATABASE_URL"]), postgresService, "postgres", "", ""); err != nil {
			t.Errorf("%s: DATABASE_URL: %v", name, err)
		}
		if d := s.DependsOn[postgresService]; d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on postgres with condition %q, want %s (it migrates at start)", name, d.Condition, types.ServiceConditionHealthy)
		}
		if err := checkServiceURL(p, deref(s.Environment["OTEL_EXPORTER_OTLP_ENDPOINT"]), jaegerService, "http", "", ""); err != nil {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT: %v", name, err)
		}
		if s.StopGracePeriod == nil || int64(*s.StopGracePeriod) <= 15e9 {
			t.Errorf("%s: stop_grace_period %v, want more than the service's 15s SHUTDOWN_TIMEOUT", name, s.StopGracePeriod)
		}
	}
}

// secretNames lists the compose secrets a service is granted, sorted.
func secretNames(s types.ServiceConfig) []string {
	var out []string
	for _, ref := range s.Secrets {
		out = append(out, ref.Source)
	}
	slices.Sort(out)
	return out
}

// TestComposePostgresCredentials checks that every client of the database
// reaches it as the role and database the postgres service creates, with
// the password it is initialised with: the apps through pgx (DATABASE_URL
// without a password, plus PGPASSFILE), the exporter through
// DATA_SOURCE_URI, DATA_SOURCE_USER and DATA_SOURCE_PASS_FILE. The apps'
// password is resolved by pgx itself, from the demo secret files, the way
// the service resolves it.
func TestComposePostgresCredentials(t *testing.T) {
	p := loadProject(t, nil)
	pg := service(t, p, postgresService)
	user, db := deref(pg.Environment["POSTGRES_USER"]), deref(pg.Environment["POSTGRES_DB"])
	if user == "<unset>" || db == "<unset>" {
		t.Fatalf("postgres: POSTGRES_USER %q and POSTGRES_DB %q must be set", user, db)
	}
	secretFile := func(s types.ServiceConfig, v string) string {
		t.Helper()
		name, ok := secretPaths(s)[deref(s.Environment[v])]
		if !ok {
			t.Fatalf("service %s: %s=%s is not one of its secrets", s.Name, v, deref(s.Environment[v]))
		}
		return p.Secrets[name].File
	}
	pgPasswordFile := secretFile(pg, "POSTGRES_PASSWORD_FILE")
	b, err := os.ReadFile(pgPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	// The image's entrypoint reads the file with $(< file): trailing
	// newlines go.
	password := strings.TrimRight(string(b), "\n")

	exp := service(t, p, exporterService)
	if got := secretFile(exp, "DATA_SOURCE_PASS_FILE"); got != pgPasswordFile {
		t.Errorf("postgres-exporter reads its password from %s, postgres is initialised from %s", got, pgPasswordFile)
	}
	if got := deref(exp.Environment["DATA_SOURCE_USER"]); got != user {
		t.Errorf("postgres-exporter: DATA_SOURCE_USER %q, want %q", got, user)
	}
	uri := deref(exp.Environment["DATA_SOURCE_URI"])
	hostport, rest, _ := strings.Cut(uri, "/")
	if err := checkHostPort(p, hostport, postgresService, ""); err != nil {
		t.Errorf("postgres-exporter: DATA_SOURCE_URI: %v", err)
	}
	if dbName, _, _ := strings.Cut(rest, "?"); dbName != db {
		t.Errorf("postgres-exporter: DATA_SOURCE_URI %q names database %q, want %q", uri, dbName, db)
	}

	// pgx reads these; the test's own environment must not answer for
	// the secret file.
	for _, v := range []string{"PGPASSWORD", "PGSERVICE", "PGSERVICEFILE", "PGUSER", "PGDATABASE", "PGHOST", "PGPORT"} {
		t.Setenv(v, "")
	}
	resolve := func(databaseURL, passfile string) (*pgxpool.Config, error) {
		t.Setenv("PGPASSFILE", passfile)
		return pgxpool.ParseConfig(databaseURL)
	}
	for _, name := range appReplicas(p) {
		app := service(t, p, name)
		databaseURL := deref(app.Environment["DATABASE_URL"])
		cfg, err := resolve(databaseURL, secretFile(app, "PGPASSFILE"))
		if err != nil {
			t.Errorf("%s: DATABASE_URL does not parse: %v", name, err)
			continue
		}
		if cfg.ConnConfig.User != user || cfg.ConnConfig.Database != db {
			t.Errorf("%s: connects as %q to database %q, postgres creates %q and %q", name, cfg.ConnConfig.User, cfg.ConnConfig.Database, user, db)
		}
		if cfg.ConnConfig.Password != password {
			t.Errorf("%s: pgx finds %d password bytes in its PGPASSFILE for %s:%d/%s as %s, not postgres' password",
				name, len(cfg.ConnConfig.Password), cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database, cfg.ConnConfig.User)
		}
	}
	// The check can fail: an entry for another database gives pgx no
	// password.
	other := filepath.Join(t.TempDir(), "pgpass")
	if err := os.WriteFile(other, []byte("postgres:5432:otherdb:"+user+":"+password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if cfg, err := resolve(deref(service(t, p, "app").Environment["DATABASE_URL"]), other); err != nil || cfg.ConnConfig.Password != "" {
		t.Errorf("a .pgpass entry for another database gave pgx a password (err %v)", err)
	}
}

// TestImageVersions pins the images of the stack to the versions the Go
// tools (and therefore the rule and routing tests) are built from, and
// forbids floating tags.
func TestImageVersions(t *testing.T) {
	mf, err := modfile.Parse("tools/go.mod", testkit.ReadRepoFile(t, "tools/go.mod"), nil)
	if err != nil {
		t.Fatal(err)
	}
	versions := map[string]string{}
	for _, r := range mf.Require {
		versions[r.Mod.Path] = r.Mod.Version
	}
	promTag, err := prometheusRelease(versions["github.com/prometheus/prometheus"])
	if err != nil {
		t.Fatal(err)
	}
	amTag := versions["github.com/prometheus/alertmanager"]
	if amTag == "" {
		t.Fatal("tools/go.mod does not require github.com/prometheus/alertmanager")
	}
	p := loadProject(t, nil)
	want := map[string]string{
		"prometheus":   "prom/prometheus:" + promTag,
		"alertmanager": "prom/alertmanager:" + amTag,
	}
	for name, image := range want {
		if got := service(t, p, name).Image; got != image {
			t.Errorf("service %s: image %q, want %q (tools/go.mod)", name, got, image)
		}
	}
	sources, err := dashboards.LoadDatasources(testkit.RepoFile(t, "grafana/provisioning/datasources"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range sources {
		if v, ok := ds.JSONData["prometheusVersion"]; ds.Type == "prometheus" && ok && v != strings.TrimPrefix(promTag, "v") {
			t.Errorf("Grafana datasource %s: prometheusVersion %v, but the stack runs %s", ds.UID, v, promTag)
		}
	}
	jaegerMod := jaegerModVersion(t)
	jaegerTag, err := jaegerRelease(jaegerMod)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := service(t, p, jaegerService).Image, "jaegertracing/jaeger:"+jaegerTag; got != want {
		t.Errorf("service jaeger: image %q, want %q (tools/jaeger/go.mod: %s)", got, want, jaegerMod)
	}
	// An exact PostgreSQL release (major.minor), not a floating major tag.
	if pgImage := service(t, p, postgresService).Image; !regexp.MustCompile(`^postgres:\d+\.\d+-alpine$`).MatchString(pgImage) {
		t.Errorf("postgres image %q: want postgres:MAJOR.MINOR-alpine", pgImage)
	}
	if repo, tag := splitImage(service(t, p, exporterService).Image); repo != "quay.io/prometheuscommunity/postgres-exporter" || !semver.IsValid(tag) || semver.Prerelease(tag) != "" {
		t.Errorf("postgres-exporter image %s:%s: want quay.io/prometheuscommunity/postgres-exporter pinned to a release", repo, tag)
	}
	grafana := service(t, p, "grafana").Image
	if repo, tag := splitImage(grafana); repo != "grafana/grafana" || !semver.IsValid("v"+tag) {
		t.Errorf("grafana image %q: want grafana/grafana pinned to a release version", grafana)
	}
	for name, s := range p.Services {
		if s.Build != nil {
			continue
		}
		if _, tag := splitImage(s.Image); tag == "" || tag == "latest" {
			t.Errorf("service %s: image %q is not pinned", name, s.Image)
		}
	}
}

// jaegerModVersion returns the version of github.com/jaegertracing/jaeger
// that tools/jaeger/go.mod builds the tests' Jaeger from.
func jaegerModVersion(t *testing.T) string {
	t.Helper()
	mf, err := modfile.Parse("tools/jaeger/go.mod", testkit.ReadRepoFile(t, "tools/jaeger/go.mod"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range mf.Require {
		if r.Mod.Path == "github.com/jaegertracing/jaeger" {
			return r.Mod.Version
		}
	}
	t.Fatal("tools/jaeger/go.mod does not require github.com/jaegertracing/jaeger")
	return ""
}

// jaegerRelease maps a github.com/jaegertracing/jaeger module version to
// the Jaeger v2 release (image tag) it is: since 2.0.0 (module v1.63.0)
// every release is tagged both v1.(63+N).P and v2.N.P from one commit, and
// the module path has no /v2, so Go resolves the v1 tag.
func jaegerRelease(mod string) (string, error) {
	if !semver.IsValid(mod) || semver.Major(mod) != "v1" || semver.Prerelease(mod) != "" {
		return "", fmt.Errorf("jaeger module version %q: want v1.MINOR.PATCH", mod)
	}
	parts := strings.Split(strings.TrimPrefix(semver.Canonical(mod), "v"), ".")
	minor, _ := strconv.Atoi(parts[1])
	if minor < 63 {
		return "", fmt.Errorf("jaeger module version %s predates Jaeger v2", mod)
	}
	return fmt.Sprintf("2.%d.%s", minor-63, parts[2]), nil
}

func TestJaegerRelease(t *testing.T) {
	tests := []struct{ mod, want string }{
		{"v1.76.0", "2.13.0"},
		{"v1.63.0", "2.0.0"},
		{"v1.64.1", "2.1.1"},
		{"v1.62.0", ""},
		{"v2.13.0", ""},
		{"v1.76.0-rc1", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := jaegerRelease(tt.mod)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("jaegerRelease(%q) = %q, %v; want %q", tt.mod, got, err, tt.want)
		}
	}
}

// TestPrometheusFeatures checks the Prometheus flags the stack relies on:
// exemplar storage, without which the trace_id exemplars the service
// exposes are dropped at scrape and the latency panels link nowhere.
func TestPrometheusFeatures(t *testing.T) {
	prom := service(t, loadProject(t, nil), "prometheus")
	var features []string
	for i, arg := range prom.Command {
		if v, ok := strings.CutPrefix(arg, "--enable-feature="); ok {
			features = append(features, strings.Split(v, ",")...)
		} else if arg == "--enable-feature" && i+1 < len(prom.Command) {
			features = append(features, strings.Split(prom.Command[i+1], ",")...)
		}
	}
	if !slices.Contains(features, "exemplar-storage") {
		t.Errorf("prometheus runs with features %v, want exemplar-storage (command %v)", features, prom.Command)
	}
}

// splitImage splits "repo:tag" (the registry part may itself hold a ":port").
func splitImage(image string) (repo, tag string) {
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return image, ""
	}
	return image[:i], image[i+1:]
}

// prometheusRelease maps a github.com/prometheus/prometheus module version
// to the Prometheus release it is: v0.XY.Z is 2.XY.Z, and since Prometheus 3
// v0.3XY.Z is 3.XY.Z (the major version is folded into the minor).
func prometheusRelease(mod string) (string, error) {
	if !semver.IsValid(mod) || semver.Major(mod) != "v0" || semver.Prerelease(mod) != "" {
		return "", fmt.Errorf("prometheus module version %q: want v0.MINOR.PATCH", mod)
	}
	parts := strings.Split(strings.TrimPrefix(semver.Canonical(mod), "v"), ".")
	minor, _ := strconv.Atoi(parts[1])
	if minor < 100 {
		return fmt.Sprintf("v2.%d.%s", minor, parts[2]), nil
	}
	return fmt.Sprintf("v%d.%d.%s", minor/100, minor%100, parts[2]), nil
}

func TestPrometheusRelease(t *testing.T) {
	tests := []struct{ mod, want string }{
		{"v0.310.0", "v3.10.0"},
		{"v0.305.2", "v3.5.2"},
		{"v0.300.1", "v3.0.1"},
		{"v0.54.1", "v2.54.1"},
		{"v1.8.2", ""},
		{"v0.310.0-rc.0", ""},
		{"", ""},
	}
	for _, tt := range tests {
		got, err := prometheusRelease(tt.mod)
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("prometheusRelease(%q) = %q, %v; want %q", tt.mod, got, err, tt.want)
		}
	}
}

func TestSplitImage(t *testing.T) {
	tests := []struct{ image, repo, tag string }{
		{"prom/prometheus:v3.10.0", "prom/prometheus", "v3.10.0"},
		{"grafana/grafana", "grafana/grafana", ""},
		{"registry:5000/team/app", "registry:5000/team/app", ""},
		{"registry:5000/team/app:1.2", "registry:5000/team/app", "1.2"},
	}
	for _, tt := range tests {
		if repo, tag := splitImage(tt.image); repo != tt.repo || tag != tt.tag {
			t.Errorf("splitImage(%q) = %q, %q; want %q, %q", tt.image, repo, tag, tt.repo, tt.tag)
		}
	}
}
