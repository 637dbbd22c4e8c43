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
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"

	"github.com/ordersvc/ordersvc/internal/dashboards"
	"github.com/ordersvc/ordersvc/internal/testkit"
)

// coreServices are the services `docker compose up` must start.
var coreServices = []string{"app", "prometheus", "alertmanager", "grafana"}

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
		{"app", 8080}, {"prometheus", 9090}, {"alertmanager", 9093}, {"grafana", 3000},
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
	for _, name := range []string{"admin_token", "alert_webhook_token"} {
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
	wantEnv := map[string]map[string]string{
		"app": {
			"ADMIN_TOKEN_FILE":         "/run/secrets/admin_token",
			"ALERT_WEBHOOK_TOKEN_FILE": "/run/secrets/alert_webhook_token",
		},
	}
	for svcName, env := range wantEnv {
		s := service(t, p, svcName)
		for k, want := range env {
			if got := s.Environment[k]; got == nil || *got != want {
				t.Errorf("service %s: %s = %v, want %s", svcName, k, deref(got), want)
			}
		}
	}
	plaintext := []string{"ADMIN_TOKEN", "ALERT_WEBHOOK_TOKEN", "GF_SECURITY_ADMIN_PASSWORD", "SENTRY_DSN_FILE"}
	for svcName, s := range p.Services {
		granted := secretPaths(s)
		for k, v := range s.Environment {
			if slices.Contains(plaintext, k) && v != nil && *v != "" {
				t.Errorf("service %s: %s is set in plain environment; use a secret file", svcName, k)
			}
			if v == nil || !strings.HasPrefix(*v, "/run/secrets/") {
				continue
			}
			if !strings.HasSuffix(k, "_FILE") {
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
	// depends_on conditions only wait on services that can become healthy.
	for name, s := range p.Services {
		for dep, d := range s.DependsOn {
			if d.Condition == types.ServiceConditionHealthy && p.Services[dep].HealthCheck == nil {
				t.Errorf("service %s waits for %s to be healthy, but %s has no healthcheck", name, dep, dep)
			}
		}
	}
}

func TestComposeApp(t *testing.T) {
	root := testkit.RepoRoot(t)
	p := loadProject(t, nil)
	app := service(t, p, "app")
	if app.Build == nil || app.Build.Context != root {
		t.Fatalf("app build = %+v, want this repository", app.Build)
	}
	if got := app.Environment["DATABASE_URL"]; got == nil || !strings.HasPrefix(*got, "sqlite:///data/") {
		t.Errorf("app DATABASE_URL = %s, want a database under /data", deref(got))
	}
	if !slices.ContainsFunc(app.Volumes, func(v types.ServiceVolumeConfig) bool {
		return v.Type == types.VolumeTypeVolume && v.Target == "/data"
	}) {
		t.Error("app: /data is not on a named volume; the database would not survive a container rebuild")
	}
	if app.StopGracePeriod == nil || int64(*app.StopGracePeriod) <= 15e9 {
		t.Errorf("app stop_grace_period %v, want more than the service's 15s SHUTDOWN_TIMEOUT", app.StopGracePeriod)
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
