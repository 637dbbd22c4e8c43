package handlers_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// TestMain validates every exchange of the handler tests against the API
// description (api/openapi.yaml): a handler answering a status, a header
// or a field the document does not list fails the suite, and so does a
// document stricter than the handlers.
func TestMain(m *testing.M) {
	testkit.ValidateExchanges()
	code := m.Run()
	checked, refused := testkit.ExchangeStats()
	fmt.Printf("openapi: %d exchanges validated against api/openapi.yaml (%d requests the document refuses, each answered with an error)\n", checked, refused)
	if testing.Verbose() {
		// Not a failure (some answers need a broken disk or a panic), but
		// what the suite leaves unproven.
		fmt.Printf("openapi: documented responses no test produced: %s\n", strings.Join(testkit.UnexercisedResponses(), ", "))
	}
	os.Exit(code)
}
