package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"sync"
	"time"
)

// encoding/json matches object keys to struct fields case-insensitively:
// {"product_id":"sku-3","PRODUCT_ID":"nope"} would order "nope". The API's
// field names are exact, so every body is first walked, token by token,
// against the shape of the type it decodes into: a key that is not the
// exact name of a field is an unknown field. Why not a second full decode
// into maps: the walk allocates only the key strings, and bodies are small
// on the hot path (POST /orders).

// jsonShape is what the walk knows of a Go type: the exact field names of
// a struct, the element of a slice or map, or nothing (a leaf whose
// content is not checked: numbers, strings, json.RawMessage, time.Time).
type jsonShape struct {
	fields map[string]*jsonShape // struct: exact JSON name → field shape
	folded map[string]bool       // struct: lower-cased names, to spot case variants
	elem   *jsonShape            // slice, array or map value
	isMap  bool
}

// leaf is the shape of a value whose content is not walked.
var leaf = &jsonShape{}

var (
	shapeCache sync.Map // reflect.Type → *jsonShape
	rawType    = reflect.TypeFor[json.RawMessage]()
	timeType   = reflect.TypeFor[time.Time]()
)

// shapeOf returns t's shape, cached.
func shapeOf(t reflect.Type) *jsonShape {
	if s, ok := shapeCache.Load(t); ok {
		return s.(*jsonShape)
	}
	s := buildShape(t, map[reflect.Type]*jsonShape{})
	shapeCache.Store(t, s)
	return s
}

func buildShape(t reflect.Type, seen map[reflect.Type]*jsonShape) *jsonShape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == rawType || t == timeType {
		return leaf
	}
	if s, ok := seen[t]; ok {
		return s
	}
	switch t.Kind() {
	case reflect.Struct:
		s := &jsonShape{fields: map[string]*jsonShape{}, folded: map[string]bool{}}
		seen[t] = s
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			s.fields[name] = buildShape(f.Type, seen)
			s.folded[strings.ToLower(name)] = true
		}
		return s
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return leaf // []byte is a base64 string
		}
		return &jsonShape{elem: buildShape(t.Elem(), seen)}
	case reflect.Map:
		return &jsonShape{elem: buildShape(t.Elem(), seen), isMap: true}
	}
	return leaf
}

// errUnknownField is returned by checkKeys for a key that is not the exact
// name of a field, in strict mode.
type errUnknownField struct{ name string }

func (e *errUnknownField) Error() string { return "json: unknown field " + quoteField(e.name) }

// keyCheck is the outcome of walking a body's keys.
type keyCheck struct {
	// caseVariants is set when a key differs from a field's name only in
	// case (in lenient mode; strict mode fails on it).
	caseVariants bool
}

// checkKeys walks one JSON document against s. In strict mode a key that
// is not the exact name of a field fails with *errUnknownField; otherwise
// unknown keys are allowed and case variants are reported. Syntax errors
// are returned as the decoder gives them.
func checkKeys(body []byte, s *jsonShape, strict bool) (keyCheck, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var kc keyCheck
	err := walkValue(dec, s, strict, &kc)
	return kc, err
}

func walkValue(dec *json.Decoder, s *jsonShape, strict bool, kc *keyCheck) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	switch delim {
	case '{':
		for dec.More() {
			keyTok, err := dec.Token()
			if err != nil {
				return err
			}
			key, _ := keyTok.(string)
			child := leaf
			switch {
			case s.isMap:
				child = s.elem
			case s.fields != nil:
				f, known := s.fields[key]
				switch {
				case known:
					child = f
				case strict:
					return &errUnknownField{name: key}
				case s.folded[strings.ToLower(key)]:
					kc.caseVariants = true
				}
			}
			if err := walkValue(dec, child, strict, kc); err != nil {
				return err
			}
		}
	case '[':
		child := s.elem
		if child == nil {
			child = leaf
		}
		for dec.More() {
			if err := walkValue(dec, child, strict, kc); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}

// withoutCaseVariants re-encodes body without the keys that differ from a
// field's name only in case, so a lenient decode cannot match them. It is
// the slow path, taken only for bodies that hold such keys.
func withoutCaseVariants(body []byte, s *jsonShape) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return json.Marshal(strip(v, s))
}

func strip(v any, s *jsonShape) any {
	switch v := v.(type) {
	case map[string]any:
		for k, child := range v {
			switch {
			case s.isMap:
				v[k] = strip(child, s.elem)
			case s.fields != nil:
				if f, ok := s.fields[k]; ok {
					v[k] = strip(child, f)
				} else if s.folded[strings.ToLower(k)] {
					delete(v, k)
				}
			}
		}
	case []any:
		if s.elem != nil {
			for i := range v {
				v[i] = strip(v[i], s.elem)
			}
		}
	}
	return v
}
