// Package api holds the service's OpenAPI 3.0.3 description, embedded in
// the binary so that the service serves exactly the document its tests
// validate every exchange against (GET /openapi.yaml and /openapi.json).
//
// The YAML file is the source; the JSON form is converted from it once,
// on first use, so the two can never disagree.
package api

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"go.yaml.in/yaml/v3"
)

// yamlDoc is openapi.yaml, the API description.
//
//go:embed openapi.yaml
var yamlDoc []byte

// YAML returns the OpenAPI document as written. The slice is shared: do
// not modify it.
func YAML() []byte { return yamlDoc }

// JSON returns the OpenAPI document converted to JSON, computed once. The
// slice is shared: do not modify it.
func JSON() ([]byte, error) { return jsonDoc() }

var jsonDoc = sync.OnceValues(func() ([]byte, error) { return ToJSON(yamlDoc) })

// ToJSON converts a YAML document to JSON. Mapping keys become strings
// (YAML reads an unquoted `200:` as an integer key, which JSON cannot
// hold); anything JSON has no form for is an error.
func ToJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, fmt.Errorf("api: parse the YAML document: %w", err)
	}
	v, err := jsonValue(v)
	if err != nil {
		return nil, fmt.Errorf("api: convert to JSON: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("api: encode JSON: %w", err)
	}
	return out, nil
}

// jsonValue rewrites the maps yaml decodes into map[string]any.
func jsonValue(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			c, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			x[k] = c
		}
		return x, nil
	case map[any]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			switch k.(type) {
			case string, int, int64, uint64, bool:
			default:
				return nil, fmt.Errorf("mapping key %v of type %T", k, k)
			}
			key := fmt.Sprint(k)
			c, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", key, err)
			}
			m[key] = c
		}
		return m, nil
	case []any:
		for i, e := range x {
			c, err := jsonValue(e)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			x[i] = c
		}
		return x, nil
	}
	return v, nil
}
