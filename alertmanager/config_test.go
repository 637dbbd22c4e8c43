package alertmanager_test

import (
	"fmt"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	amconfig "github.com/prometheus/alertmanager/config"
	commoncfg "github.com/prometheus/common/config"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// TestAmtoolCheckConfig validates the file with the pinned amtool, the way
// an operator would before deploying it. The broken fixture proves the
// check can fail. amtool does not read credentials_file (Alertmanager reads
// it at send time), so the real file is checked in place.
func TestAmtoolCheckConfig(t *testing.T) {
	tests := []struct {
		name   string
		file   string
		wantOK bool
	}{
		{"alertmanager.yml", configPath(t), true},
		{"route to an undefined receiver", filepath.Join("testdata", "undefined-receiver.yml"), false},
		{"inhibit rule with a malformed matcher", filepath.Join("testdata", "bad-matcher.yml"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := testkit.RunTool(t, "", "amtool", "check-config", tc.file)
			ok := err == nil && strings.Contains(out, "SUCCESS") && !strings.Contains(out, "FAILED")
			if ok != tc.wantOK {
				t.Fatalf("amtool check-config %s: ok=%v, want %v (err %v)\n%s", tc.file, ok, tc.wantOK, err, out)
			}
			t.Logf("amtool check-config:\n%s", out)
		})
	}
}

// TestConfigLoads loads the file with Alertmanager's config package and
// checks its top-level shape.
func TestConfigLoads(t *testing.T) {
	cfg := loadConfig(t)
	if cfg.Route == nil {
		t.Fatal("no route")
	}
	var names []string
	for _, r := range cfg.Receivers {
		names = append(names, r.Name)
	}
	slices.Sort(names)
	want := []string{rcvCatchAll, rcvHeartbeat, rcvLowPriority, rcvPaging, rcvTicket}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("receivers = %v, want %v", names, want)
	}
	if cfg.Route.Receiver != rcvCatchAll {
		t.Errorf("root receiver = %q, want %q", cfg.Route.Receiver, rcvCatchAll)
	}
	if len(cfg.InhibitRules) != 3 {
		t.Errorf("%d inhibit rules, want 3 (critical>warning, target down>symptoms, PostgresDown>DatabaseDown)", len(cfg.InhibitRules))
	}
	for _, glob := range cfg.Templates {
		if m, _ := filepath.Glob(glob); len(m) == 0 {
			t.Errorf("template glob %q matches no file", glob)
		}
	}
}

// TestWebhookReceivers checks that every receiver posts to the service's
// webhook only, with resolved notifications, a bounded payload and the
// bearer token read from the credentials file.
func TestWebhookReceivers(t *testing.T) {
	cfg := loadConfig(t)
	for _, rc := range cfg.Receivers {
		t.Run(rc.Name, func(t *testing.T) {
			if other := nonWebhookIntegrations(rc); len(other) > 0 {
				t.Errorf("integrations other than webhooks: %v", other)
			}
			if len(rc.WebhookConfigs) == 0 {
				t.Fatal("no webhook_configs")
			}
			var urls []string
			for i, wh := range rc.WebhookConfigs {
				for _, p := range webhookProblems(wh) {
					t.Errorf("webhook_configs[%d]: %s", i, p)
				}
				urls = append(urls, string(wh.URL))
			}
			// Every replica of the compose stack, each once: an alert gets
			// through while one replica is down.
			if !slices.Equal(urls, replicaWebhooks()) {
				t.Errorf("webhooks %v, want one per replica %v", urls, replicaWebhooks())
			}
		})
	}
}

// replicaWebhooks is the service's webhook on each app replica of the
// compose stack (docker-compose.yaml: app, app-2).
func replicaWebhooks() []string {
	return []string{"http://app:8080" + webhookPath, "http://app-2:8080" + webhookPath}
}

// webhookProblems describes how a webhook config departs from SPEC §6.
func webhookProblems(wh *amconfig.WebhookConfig) []string {
	var p []string
	if !slices.Contains(replicaWebhooks(), string(wh.URL)) || wh.URLFile != "" {
		p = append(p, fmt.Sprintf("url %q (url_file %q), want one of %v", string(wh.URL), wh.URLFile, replicaWebhooks()))
	}
	if !wh.SendResolved() {
		p = append(p, "send_resolved is false")
	}
	if wh.MaxAlerts == 0 || wh.MaxAlerts > 1000 {
		p = append(p, fmt.Sprintf("max_alerts %d, want 1..1000 (the receiver takes at most 1 MiB)", wh.MaxAlerts))
	}
	if wh.Timeout <= 0 {
		p = append(p, "no timeout")
	}
	hc := wh.HTTPConfig
	if hc == nil || hc.Authorization == nil {
		return append(p, "no http_config.authorization")
	}
	a := hc.Authorization
	if a.Type != "Bearer" {
		p = append(p, fmt.Sprintf("authorization type %q, want Bearer", a.Type))
	}
	if a.CredentialsFile != credentialsFile {
		p = append(p, fmt.Sprintf("credentials_file %q, want %q", a.CredentialsFile, credentialsFile))
	}
	if a.Credentials != "" || a.CredentialsRef != "" {
		p = append(p, "credentials given inline or by reference, want credentials_file only")
	}
	if hc.BasicAuth != nil || hc.OAuth2 != nil || hc.BearerToken != "" || hc.BearerTokenFile != "" {
		p = append(p, "other authentication configured besides authorization.credentials_file")
	}
	return p
}

// nonWebhookIntegrations lists the receiver's non-empty *_configs fields
// other than webhook_configs, found by reflection so that integrations added
// to Alertmanager later are covered too.
func nonWebhookIntegrations(rc amconfig.Receiver) []string {
	var out []string
	v := reflect.ValueOf(rc)
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if f.Name == "WebhookConfigs" || !strings.HasSuffix(f.Name, "Configs") || f.Type.Kind() != reflect.Slice {
			continue
		}
		if v.Field(i).Len() > 0 {
			out = append(out, f.Name)
		}
	}
	return out
}

// TestNoLiteralCredentials walks the loaded configuration for any secret
// written into the file itself. The fixture with two planted credentials
// proves the walk finds them.
func TestNoLiteralCredentials(t *testing.T) {
	tests := []struct {
		name string
		file string
		want int
	}{
		{"alertmanager.yml", configPath(t), 0},
		{"fixture with an inline token and a password in a URL", filepath.Join("testdata", "literal-credentials.yml"), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := amconfig.LoadFile(tc.file)
			if err != nil {
				t.Fatalf("load: %v", err)
			}
			found := literalSecrets(cfg)
			if len(found) != tc.want {
				t.Errorf("found %d literal secrets %v, want %d", len(found), found, tc.want)
			}
		})
	}
}

var (
	commonSecretType = reflect.TypeFor[commoncfg.Secret]()
	amSecretType     = reflect.TypeFor[amconfig.Secret]()
	amSecretURLType  = reflect.TypeFor[amconfig.SecretURL]()
	amTmplURLType    = reflect.TypeFor[amconfig.SecretTemplateURL]()
)

// literalSecrets returns the paths of every secret value set in the loaded
// configuration: any non-empty Secret (Prometheus' or Alertmanager's type,
// which covers tokens, passwords, API keys and inline authorization
// credentials), any secret URL given literally, and any templated URL that
// carries user info or a query string (a token smuggled into the URL).
func literalSecrets(cfg *amconfig.Config) []string {
	var found []string
	seen := map[uintptr]bool{}
	var walk func(v reflect.Value, path string)
	walk = func(v reflect.Value, path string) {
		switch v.Type() {
		case commonSecretType, amSecretType:
			if v.String() != "" {
				found = append(found, path)
			}
			return
		case amTmplURLType:
			if u, err := url.Parse(v.String()); err != nil || u.User != nil || u.RawQuery != "" {
				found = append(found, path)
			}
			return
		case amSecretURLType:
			if !v.Field(0).IsNil() {
				found = append(found, path)
			}
			return
		}
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(v.Elem(), path)
		case reflect.Interface:
			if !v.IsNil() {
				walk(v.Elem(), path)
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(v.Field(i), path+"."+v.Type().Field(i).Name)
			}
		case reflect.Slice, reflect.Array:
			for i := range v.Len() {
				walk(v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		case reflect.Map:
			it := v.MapRange()
			for it.Next() {
				walk(it.Value(), fmt.Sprintf("%s[%v]", path, it.Key()))
			}
		}
	}
	walk(reflect.ValueOf(cfg), "config")
	return found
}
