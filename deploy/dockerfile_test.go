package deploy_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case: FROM, RUN, ENV, …
	Args string
	Line int
}

// stage is one FROM … [AS name] section of a Dockerfile.
type stage struct {
	Name, Base   string
	Instructions []instruction
}

// parseDockerfile splits a Dockerfile into stages. Build arguments declared
// before the first FROM are substituted into FROM lines with their defaults.
// Only the backslash escape character is supported (no "# escape=`").
func parseDockerfile(src string) ([]stage, error) {
	var (
		stages  []stage
		global  = map[string]string{}
		pending strings.Builder
		start   int
	)
	sc := bufio.NewScanner(strings.NewReader(src))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if pending.Len() == 0 {
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			start = n
		} else if strings.HasPrefix(line, "#") {
			continue // comment lines inside a continuation are dropped
		}
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			pending.WriteString(cont + " ")
			continue
		}
		pending.WriteString(line)
		full := pending.String()
		pending.Reset()
		cmd, args, _ := strings.Cut(full, " ")
		in := instruction{Cmd: strings.ToUpper(cmd), Args: strings.TrimSpace(args), Line: start}
		switch {
		case in.Cmd == "ARG" && len(stages) == 0:
			k, v, _ := strings.Cut(in.Args, "=")
			global[k] = strings.Trim(v, `"`)
		case in.Cmd == "FROM":
			fields := strings.Fields(os.Expand(in.Args, func(k string) string { return global[k] }))
			var st stage
			for i := 0; i < len(fields); i++ {
				switch {
				case strings.HasPrefix(fields[i], "--"):
				case strings.EqualFold(fields[i], "AS") && i+1 < len(fields):
					st.Name = fields[i+1]
					i++
				case st.Base == "":
					st.Base = fields[i]
				}
			}
			if st.Base == "" {
				return nil, fmt.Errorf("line %d: FROM without an image", start)
			}
			stages = append(stages, st)
		case len(stages) == 0:
			return nil, fmt.Errorf("line %d: %s before the first FROM", start, in.Cmd)
		default:
			stages[len(stages)-1].Instructions = append(stages[len(stages)-1].Instructions, in)
		}
	}
	if pending.Len() > 0 {
		return nil, fmt.Errorf("line %d: continuation at end of file", start)
	}
	if len(stages) == 0 {
		return nil, fmt.Errorf("no FROM")
	}
	return stages, sc.Err()
}

// args returns the arguments of every instruction cmd in the stage.
func (s stage) args(cmd string) []string {
	var out []string
	for _, in := range s.Instructions {
		if in.Cmd == cmd {
			out = append(out, in.Args)
		}
	}
	return out
}

// env returns the stage's ENV variables (KEY=VALUE pairs, quotes removed;
// the legacy "ENV KEY VALUE" form too).
func (s stage) env() map[string]string {
	out := map[string]string{}
	for _, a := range s.args("ENV") {
		fields := strings.Fields(a)
		if len(fields) > 0 && !strings.Contains(fields[0], "=") {
			out[fields[0]] = strings.TrimSpace(strings.TrimPrefix(a, fields[0]))
			continue
		}
		for _, f := range fields {
			if k, v, ok := strings.Cut(f, "="); ok {
				out[k] = strings.Trim(v, `"'`)
			}
		}
	}
	return out
}

func TestParseDockerfile(t *testing.T) {
	src := "# syntax=docker/dockerfile:1\nARG V=1.2\nFROM golang:${V} AS build\nENV A=1 \\\n    B=\"two\"\n# note\nRUN go build \\\n  # inline comment\n  ./cmd/x\nFROM --platform=linux/amd64 scratch\nENV LEGACY some value\nUSER 1:1\n"
	stages, err := parseDockerfile(src)
	if err != nil {
		t.Fatal(err)
	}
	if len(stages) != 2 || stages[0].Name != "build" || stages[0].Base != "golang:1.2" || stages[1].Base != "scratch" || stages[1].Name != "" {
		t.Fatalf("stages = %+v", stages)
	}
	if env := stages[0].env(); env["A"] != "1" || env["B"] != "two" {
		t.Errorf("env = %v", env)
	}
	if run := stages[0].args("RUN"); len(run) != 1 || strings.Join(strings.Fields(run[0]), " ") != "go build ./cmd/x" {
		t.Errorf("RUN = %q", run)
	}
	if env := stages[1].env(); env["LEGACY"] != "some value" {
		t.Errorf("legacy env = %v", env)
	}
	for _, bad := range []string{"RUN x\n", "FROM\n", "FROM a\nRUN x \\\n"} {
		if _, err := parseDockerfile(bad); err == nil {
			t.Errorf("parseDockerfile(%q) succeeded", bad)
		}
	}
}

func loadDockerfile(t *testing.T) []stage {
	t.Helper()
	stages, err := parseDockerfile(string(testkit.ReadRepoFile(t, "Dockerfile")))
	if err != nil {
		t.Fatalf("Dockerfile: %v", err)
	}
	return stages
}

func stageNamed(stages []stage, name string) (stage, bool) {
	i := slices.IndexFunc(stages, func(s stage) bool { return s.Name == name })
	if i < 0 {
		return stage{}, false
	}
	return stages[i], true
}

// nonRoot reports whether a USER value runs as someone other than root.
func nonRoot(user string) bool {
	u, _, _ := strings.Cut(strings.TrimSpace(user), ":")
	return u != "" && u != "root" && u != "0"
}

// entrypoint decodes an exec-form ENTRYPOINT.
func entrypoint(s stage) []string {
	eps := s.args("ENTRYPOINT")
	if len(eps) == 0 {
		return nil
	}
	var out []string
	if err := json.Unmarshal([]byte(eps[len(eps)-1]), &out); err != nil {
		return []string{"<shell form: " + eps[len(eps)-1] + ">"}
	}
	return out
}

func TestDockerfileBuildStage(t *testing.T) {
	stages := loadDockerfile(t)
	mf, err := modfile.Parse("go.mod", testkit.ReadRepoFile(t, "go.mod"), nil)
	if err != nil || mf.Go == nil {
		t.Fatalf("go.mod: %v", err)
	}
	goMinor := strings.Join(strings.SplitN(mf.Go.Version, ".", 3)[:2], ".")

	build := stages[0]
	if want := regexp.MustCompile(`^golang:` + regexp.QuoteMeta(goMinor) + `(\.\d+)?(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?$`); !want.MatchString(build.Base) {
		t.Errorf("first stage builds FROM %s, want golang:%s (go.mod says go %s)", build.Base, goMinor, mf.Go.Version)
	}
	runs := strings.Join(build.args("RUN"), "\n")
	if build.env()["CGO_ENABLED"] != "0" && !strings.Contains(runs, "CGO_ENABLED=0") {
		t.Error("build stage does not set CGO_ENABLED=0: the binaries would not be static")
	}
	for _, pkg := range []string{"./cmd/server", "./cmd/loadgen"} {
		if !regexp.MustCompile(`go build [^\n&;]*` + regexp.QuoteMeta(pkg) + `\b`).MatchString(runs) {
			t.Errorf("build stage does not `go build` %s", pkg)
		}
	}
	if !slices.ContainsFunc(build.args("COPY"), func(a string) bool { return strings.HasPrefix(a, "go.mod go.sum") }) {
		t.Error("build stage does not copy go.mod and go.sum ahead of the source (module download layer)")
	}
}

func TestDockerfileRuntimeStages(t *testing.T) {
	stages := loadDockerfile(t)
	p := loadProject(t, nil, "*")
	tests := []struct {
		service    string // compose service built from this stage
		entrypoint string
		last       bool // the default build target
	}{
		{"app", "/server", true},
		{"loadgen", "/loadgen", false},
	}
	for _, tt := range tests {
		s := service(t, p, tt.service)
		if s.Build == nil {
			t.Errorf("service %s is not built from the Dockerfile", tt.service)
			continue
		}
		st, ok := stageNamed(stages, s.Build.Target)
		if !ok {
			t.Errorf("service %s builds target %q, which the Dockerfile does not define", tt.service, s.Build.Target)
			continue
		}
		if tt.last && st.Name != stages[len(stages)-1].Name {
			t.Errorf("stage %s is not last: a plain `docker build .` would not build the service", st.Name)
		}
		if !strings.HasPrefix(st.Base, "gcr.io/distroless/static") || !strings.Contains(st.Base, "nonroot") {
			t.Errorf("stage %s runs on %s, want a gcr.io/distroless/static…:nonroot image", st.Name, st.Base)
		}
		users := st.args("USER")
		if len(users) == 0 || !nonRoot(users[len(users)-1]) {
			t.Errorf("stage %s: USER %v, want a non-root user", st.Name, users)
		}
		if ep := entrypoint(st); !slices.Equal(ep, []string{tt.entrypoint}) {
			t.Errorf("stage %s: ENTRYPOINT %q, want [%q]", st.Name, ep, tt.entrypoint)
		}
	}

	server := stages[len(stages)-1]
	env := server.env()
	if env["DATABASE_URL"] != "sqlite:///data/ordersvc.db" {
		t.Errorf("server DATABASE_URL = %q, want sqlite:///data/ordersvc.db", env["DATABASE_URL"])
	}
	if !slices.ContainsFunc(server.args("VOLUME"), func(a string) bool { return strings.Contains(a, `"/data"`) || a == "/data" }) {
		t.Errorf("server stage: VOLUME %v, want /data", server.args("VOLUME"))
	}
	if !slices.Contains(server.args("EXPOSE"), "8080") {
		t.Errorf("server stage: EXPOSE %v, want 8080", server.args("EXPOSE"))
	}
	if addr := env["HTTP_ADDR"]; addr != "" && addr != ":8080" {
		t.Errorf("server HTTP_ADDR = %q, but EXPOSE and compose use 8080", addr)
	}
	if !slices.ContainsFunc(server.args("COPY"), func(a string) bool { return strings.Contains(a, "--chown=") && strings.HasSuffix(a, " /data") }) {
		t.Error("server stage: /data is not created owned by the non-root user; SQLite could not write there")
	}
}

// dockerignore is a parsed .dockerignore: later patterns win, "!" re-includes.
type dockerignore []string

// excluded reports whether the context path p (slash-separated, relative)
// is left out of the build context. A pattern matches a path or any of its
// parent directories; a leading "**/" matches at any depth.
func (d dockerignore) excluded(p string) bool {
	out := false
	for _, pat := range d {
		neg := strings.HasPrefix(pat, "!")
		pat = strings.Trim(strings.TrimPrefix(pat, "!"), "/")
		if matchesOrParent(pat, p) {
			out = !neg
		}
	}
	return out
}

func matchesOrParent(pat, p string) bool {
	anyDepth := strings.HasPrefix(pat, "**/")
	pat = strings.TrimPrefix(pat, "**/")
	for cur := p; cur != "." && cur != ""; cur = path.Dir(cur) {
		candidates := []string{cur}
		if anyDepth {
			parts := strings.Split(cur, "/")
			for i := range parts {
				candidates = append(candidates, strings.Join(parts[i:], "/"))
			}
		}
		for _, c := range candidates {
			if ok, _ := path.Match(pat, c); ok {
				return true
			}
		}
	}
	return false
}

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	var d dockerignore
	for _, line := range strings.Split(string(testkit.ReadRepoFile(t, ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			d = append(d, line)
		}
	}
	return d
}

func TestDockerignoreMatcher(t *testing.T) {
	d := dockerignore{".git", "secrets/", "**/*.db", "docs", "!docs/keep.md"}
	tests := map[string]bool{
		".git/config":            true,
		"secrets/admin_token":    true,
		"data/ordersvc.db":       true,
		"ordersvc.db":            true,
		"docs/runbooks/x.md":     true,
		"docs/keep.md":           false,
		"go.mod":                 false,
		"cmd/server/main.go":     false,
		"secretsauce/x.go":       false,
		"handlers/testdata/a.db": true,
	}
	for p, want := range tests {
		if got := d.excluded(p); got != want {
			t.Errorf("excluded(%q) = %v, want %v", p, got, want)
		}
	}
}

// TestDockerBuildContext checks that .dockerignore keeps secrets and VCS
// data out of the build context while keeping every file the two binaries
// are compiled or embedded from.
func TestDockerBuildContext(t *testing.T) {
	root := testkit.RepoRoot(t)
	d := loadDockerignore(t)
	for _, p := range []string{".git/HEAD", "secrets/admin_token.example", "data/ordersvc.db"} {
		if !d.excluded(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum"} {
		if d.excluded(p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
	cmd := exec.Command("go", "list", "-deps", "-f",
		`{{if not .Standard}}{{.Dir}}|{{join .GoFiles ","}}|{{join .EmbedFiles ","}}{{end}}`,
		"./cmd/server", "./cmd/loadgen")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list ./cmd/server ./cmd/loadgen (built by the Dockerfile): %v\n%s", err, exitStderr(err))
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		dir, files, _ := strings.Cut(line, "|")
		rel, err := filepath.Rel(root, dir)
		if err != nil || strings.HasPrefix(rel, "..") {
			continue // a dependency from the module cache
		}
		for _, f := range strings.FieldsFunc(files, func(r rune) bool { return r == ',' || r == '|' }) {
			p := filepath.ToSlash(filepath.Join(rel, f))
			checked++
			if d.excluded(p) {
				t.Errorf(".dockerignore excludes %s, which the image's binaries are built from", p)
			}
		}
	}
	if checked == 0 {
		t.Error("go list found no source files of ./cmd/server and ./cmd/loadgen")
	}
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
