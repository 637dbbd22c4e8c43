package api_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ordersvc/ordersvc/api"
	"github.com/ordersvc/ordersvc/internal/testkit"
	"github.com/ordersvc/ordersvc/problem"
)

// TestDocumentValidates loads the embedded document with kin-openapi and
// validates it as OpenAPI 3.0.3.
func TestDocumentValidates(t *testing.T) {
	o, err := testkit.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if o.Doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3 (kin-openapi's 3.1 support is partial)", o.Doc.OpenAPI)
	}
}

// TestJSONIsTheYAML checks that the JSON the service serves is the YAML
// document: the two load to the same description.
func TestJSONIsTheYAML(t *testing.T) {
	js, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(js) {
		t.Fatal("api.JSON() is not JSON")
	}
	fromJSON, err := testkit.ParseOpenAPI(js)
	if err != nil {
		t.Fatalf("the JSON form: %v", err)
	}
	fromYAML, err := testkit.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(fromJSON.Doc)
	b, _ := json.Marshal(fromYAML.Doc)
	if !bytes.Equal(a, b) {
		t.Error("the JSON and YAML forms describe different APIs")
	}
	// Response codes are integers to YAML unless quoted: the conversion
	// must turn every mapping key into a string.
	if _, err := api.ToJSON([]byte("responses:\n  200: {description: ok}\n")); err != nil {
		t.Errorf("integer keys: %v", err)
	}
	if _, err := api.ToJSON([]byte("? [a, b]\n: c\n")); err == nil {
		t.Error("a sequence as a mapping key converted without error")
	}
	if _, err := api.ToJSON([]byte("a: [\n")); err == nil {
		t.Error("malformed YAML converted without error")
	}
}

// TestProblemTypes checks that the document's problem types are exactly
// the problem package's slugs (each documented in docs/problems.md), and
// that each is returned by some response.
func TestProblemTypes(t *testing.T) {
	o, err := testkit.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, s := range problem.Slugs() {
		want = append(want, problem.TypeBase+string(s))
	}
	var got []string
	for _, v := range o.Doc.Components.Schemas["Problem"].Value.Properties["type"].Value.Enum {
		got = append(got, v.(string))
	}
	if !slices.Equal(got, want) {
		t.Errorf("Problem.type enum = %v\nwant problem.Slugs() in order: %v", got, want)
	}
	// Every slug is named by some response, or a client cannot know which
	// answers carry it.
	yaml := string(api.YAML())
	for _, typ := range want {
		if strings.Count(yaml, typ) < 2 {
			t.Errorf("no response returns %s", typ)
		}
	}
}

// TestRoutesMatchRouter checks that the document's operations are the
// router's routes, both ways.
func TestRoutesMatchRouter(t *testing.T) {
	o, err := testkit.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	svc := testkit.NewService(t, testkit.ServiceOptions{})
	served := map[string]bool{}
	for _, r := range svc.Handler().(*gin.Engine).Routes() {
		served[r.Method+" "+ginToOpenAPI(r.Path)] = true
	}
	documented := map[string]bool{}
	for path, item := range o.Doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	for _, r := range slices.Sorted(maps.Keys(served)) {
		if !documented[r] {
			t.Errorf("served but not documented: %s", r)
		}
	}
	for _, r := range slices.Sorted(maps.Keys(documented)) {
		if !served[r] {
			t.Errorf("documented but not served: %s", r)
		}
	}
	t.Logf("%d routes, served and documented alike", len(served))
}

// ginToOpenAPI turns gin's /orders/:id into OpenAPI's /orders/{id}.
func ginToOpenAPI(path string) string {
	parts := strings.Split(path, "/")
	for i, p := range parts {
		if name, ok := strings.CutPrefix(p, ":"); ok {
			parts[i] = "{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}
