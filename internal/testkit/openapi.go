package testkit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/ordersvc/ordersvc/api"
)

// OpenAPI is the service's API description (package api), loaded and
// validated by kin-openapi, an implementation independent of the
// handlers, to check exchanges against.
type OpenAPI struct {
	Doc    *openapi3.T
	router routers.Router
	// seen holds the responses checked so far, by responseKey.
	seen sync.Map
}

// LoadOpenAPI loads the embedded document, validates it and builds its
// router.
func LoadOpenAPI() (*OpenAPI, error) {
	return ParseOpenAPI(api.YAML())
}

// ParseOpenAPI loads an OpenAPI document (YAML or JSON), validates it and
// builds its router.
func ParseOpenAPI(data []byte) (*OpenAPI, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load the OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("the OpenAPI document is invalid: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("route the OpenAPI document: %w", err)
	}
	return &OpenAPI{Doc: doc, router: router}, nil
}

func init() {
	// Prometheus' OpenMetrics exposition is text; kin-openapi decodes only
	// the media types it knows.
	openapi3filter.RegisterBodyDecoder("application/openmetrics-text", openapi3filter.PlainBodyDecoder)
}

// requireBearer is the validator's AuthenticationFunc: the document's
// schemes are HTTP bearer tokens, so a request satisfies one when it
// carries a bearer credential. Whether the token is the right one is the
// handlers' business (a wrong one is a 401 the document lists).
func requireBearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	s := in.SecurityScheme
	if s == nil || s.Type != "http" || !strings.EqualFold(s.Scheme, "bearer") {
		return fmt.Errorf("security scheme %q is not an HTTP bearer scheme", in.SecuritySchemeName)
	}
	auth := in.RequestValidationInput.Request.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "Bearer "); !ok || tok == "" {
		return errors.New("no bearer token in Authorization")
	}
	return nil
}

// Exchange is one request and the response the service gave it.
type Exchange struct {
	// Request must have its body readable (it is read); RequestBody, when
	// set, replaces it.
	Request     *http.Request
	RequestBody []byte
	Status      int
	Header      http.Header
	Body        []byte
}

// Verdict is what checking an exchange found out besides its errors.
type Verdict struct {
	// RequestRefused is why the document does not accept the request
	// (nil: it does). The service then must not have answered 2xx.
	RequestRefused error
}

// Check validates one exchange against the document:
//   - a request the document has no operation for must have been answered
//     404 (unknown path) or 405 (known path, other method), with the
//     document's NotFound or MethodNotAllowed response;
//   - the response must be one the operation lists, status, headers and
//     body (response schemas forbid undocumented fields);
//   - a request the document refuses (bad body, parameter or missing
//     credentials) must not have been answered with a success: the
//     document may not be stricter than the service.
//
// A request the document accepts may still be refused by the service, for
// rules no schema states (an unknown product, an idempotency key reused);
// the status must then be one the operation lists.
func (o *OpenAPI) Check(ctx context.Context, x Exchange) (Verdict, error) {
	req := x.Request
	if x.RequestBody != nil {
		req = req.Clone(ctx)
		req.Body = io.NopCloser(bytes.NewReader(x.RequestBody))
		req.ContentLength = int64(len(x.RequestBody))
	}
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		return Verdict{}, o.checkUnrouted(ctx, req, err, x)
	}
	opts := &openapi3filter.Options{
		AuthenticationFunc:    requireBearer,
		IncludeResponseStatus: true,
		// The request is validated as sent: no defaults written into it.
		SkipSettingDefaults: true,
		MultiError:          true,
		// The failure names the field and the rule; the schema's dump
		// would bury it (the response body is printed instead).
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	var v Verdict
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		v.RequestRefused = err
		if x.Status < 400 {
			return v, fmt.Errorf("the document refuses the request, but the service answered %d: %w", x.Status, err)
		}
	}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.Status, Header: x.Header, Options: opts,
		Body: io.NopCloser(bytes.NewReader(x.Body)),
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return v, fmt.Errorf("the response is not one the document lists for %s %s: %w", route.Method, route.Path, err)
	}
	o.seen.Store(responseKey(route.Method, route.Path, x.Status), true)
	return v, nil
}

func responseKey(method, path string, status int) string {
	return fmt.Sprintf("%s %s %d", method, path, status)
}

// Unexercised returns the documented responses (method, path, status) no
// checked exchange has produced, sorted: what the tests leave unproven.
func (o *OpenAPI) Unexercised() []string {
	var out []string
	for path, item := range o.Doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				var status int
				if _, err := fmt.Sscan(code, &status); err != nil {
					continue
				}
				if _, ok := o.seen.Load(responseKey(method, path, status)); !ok {
					out = append(out, responseKey(method, path, status))
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// RequestRefusal returns why the document refuses the request (body
// read from body), or nil when it accepts it: for tests that pin the
// document's bounds to the service's, both ways.
func (o *OpenAPI) RequestRefusal(ctx context.Context, req *http.Request, body []byte) error {
	req = req.Clone(ctx)
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		return fmt.Errorf("no operation: %w", err)
	}
	return openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: requireBearer, SkipSettingDefaults: true},
	})
}

// checkUnrouted checks the answer to a request no operation of the
// document takes: the 404 or the 405 the document describes.
func (o *OpenAPI) checkUnrouted(ctx context.Context, req *http.Request, routeErr error, x Exchange) error {
	want, name := http.StatusNotFound, "NotFound"
	if errors.Is(routeErr, routers.ErrMethodNotAllowed) {
		want, name = http.StatusMethodNotAllowed, "MethodNotAllowed"
	} else if !errors.Is(routeErr, routers.ErrPathNotFound) {
		return fmt.Errorf("route the request: %w", routeErr)
	}
	if x.Status != want {
		return fmt.Errorf("the document has no operation for %s %s (%v), but the service answered %d, not %d", req.Method, req.URL.Path, routeErr, x.Status, want)
	}
	resp := o.Doc.Components.Responses[name]
	if resp == nil {
		return fmt.Errorf("the document has no components.responses.%s", name)
	}
	// A stand-in operation whose only answer is that response, so the
	// filter checks its headers and body as for any operation.
	op := &openapi3.Operation{Responses: openapi3.NewResponses(openapi3.WithStatus(want, resp))}
	route := &routers.Route{Spec: o.Doc, Method: req.Method, Operation: op, PathItem: &openapi3.PathItem{}}
	opts := &openapi3filter.Options{
		IncludeResponseStatus:   true,
		SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
	}
	in := &openapi3filter.RequestValidationInput{Request: req, Route: route, Options: opts}
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in, Status: x.Status, Header: x.Header, Options: opts,
		Body: io.NopCloser(bytes.NewReader(x.Body)),
	}
	if req.Method == http.MethodHead {
		// The filter skips HEAD responses; their headers still count.
		in.Request = req.Clone(ctx)
		in.Request.Method = http.MethodGet
	}
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		return fmt.Errorf("the %d is not the document's %s response: %w", want, name, err)
	}
	return nil
}

// exchangeCheck is the package-level opt-in of Service.Do's validation:
// off unless a test binary turns it on (ValidateExchanges), because only
// the handler tests are meant to speak the documented API.
var exchangeCheck struct {
	on      atomic.Bool
	checked atomic.Int64
	refused atomic.Int64
}

// sharedOpenAPI loads the document once for every Service of the binary.
var sharedOpenAPI = sync.OnceValues(LoadOpenAPI)

// ValidateExchanges makes every Service.Do of this test binary check its
// exchange against the API description (see OpenAPI.Check); a mismatch
// fails the test. Call it from TestMain, before the tests run.
func ValidateExchanges() {
	exchangeCheck.on.Store(true)
}

// UnexercisedResponses returns the documented responses no exchange of
// Service.Do has produced so far (see OpenAPI.Unexercised).
func UnexercisedResponses() []string {
	doc, err := sharedOpenAPI()
	if err != nil {
		return nil
	}
	return doc.Unexercised()
}

// ExchangeStats returns how many exchanges Service.Do validated, and of
// those how many requests the document refuses (bad inputs, each answered
// with an error as it must be).
func ExchangeStats() (checked, refused int64) {
	return exchangeCheck.checked.Load(), exchangeCheck.refused.Load()
}

// checkExchange validates one exchange of Service.Do, failing the test on
// a mismatch. It may run on several goroutines at once.
func checkExchange(t interface {
	Helper()
	Errorf(string, ...any)
}, req *http.Request, body []byte, status int, header http.Header, respBody []byte) {
	t.Helper()
	doc, err := sharedOpenAPI()
	if err != nil {
		t.Errorf("openapi: %v", err)
		return
	}
	v, err := doc.Check(context.Background(), Exchange{Request: req, RequestBody: body, Status: status, Header: header, Body: respBody})
	exchangeCheck.checked.Add(1)
	if v.RequestRefused != nil {
		exchangeCheck.refused.Add(1)
	}
	if err != nil {
		t.Errorf("openapi: %s %s → %d: %v\nresponse: %s", req.Method, req.URL.RequestURI(), status, err, clipBody(respBody))
	}
}

// clipBody keeps failure messages readable for large bodies.
func clipBody(b []byte) string {
	const max = 2048
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
