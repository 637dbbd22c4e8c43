package testkit

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"
)

// Gatherer is where metrics come from: the service's metrics.Metrics.
type Gatherer interface {
	Gather() (map[string]float64, error)
}

// Metrics returns every series of g as "name|label=value|…" (labels in
// alphabetical order) → value: a counter's or gauge's value, a histogram's
// sample count.
func Metrics(t testing.TB, g Gatherer) map[string]float64 {
	t.Helper()
	all, err := g.Gather()
	if err != nil {
		t.Fatalf("gather metrics: %v", err)
	}
	return all
}

// Metric returns one series of g (see Metrics for the key), or -1 when it
// does not exist.
func Metric(t testing.TB, g Gatherer, key string) float64 {
	t.Helper()
	if v, ok := Metrics(t, g)[key]; ok {
		return v
	}
	return -1
}

// Scrape reads a /metrics endpoint in the text format and returns its
// families by name.
func Scrape(t testing.TB, url string) map[string]*dto.MetricFamily {
	t.Helper()
	families, err := ScrapeFamilies(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return families
}

// ScrapeFamilies is Scrape without the test, for polling.
func ScrapeFamilies(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := HTTPClient.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, &StatusError{URL: url, Code: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// StatusError is an unexpected HTTP status.
type StatusError struct {
	URL  string
	Code int
	Body string
}

func (e *StatusError) Error() string {
	return e.URL + ": status " + http.StatusText(e.Code) + ": " + e.Body
}
