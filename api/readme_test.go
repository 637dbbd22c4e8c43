package api_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ordersvc/ordersvc/internal/testkit"
)

// curlCall is one curl command of the README, parsed.
type curlCall struct {
	line    string
	method  string
	target  string // path and query
	headers [][2]string
	body    string
	hasBody bool
}

// TestREADMEExamples sends every curl command of README.md's API section,
// in order, to the service in process and validates each exchange against
// the document. The order and product examples must be requests the
// document accepts and the service creates.
func TestREADMEExamples(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	calls, err := readmeCurls(string(readme))
	if err != nil {
		t.Fatal(err)
	}
	o, err := testkit.LoadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	svc := testkit.NewService(t, testkit.ServiceOptions{})
	vars := map[string]string{"ADMIN_TOKEN": svc.Config.AdminToken, "ALERT_WEBHOOK_TOKEN": svc.Config.AlertWebhookToken}
	required := map[string]int{"POST /orders": http.StatusCreated, "PUT /inventory/sku-9": http.StatusCreated}
	for _, c := range calls {
		body := c.body
		if file, ok := strings.CutPrefix(body, "@"); ok {
			b, err := os.ReadFile(filepath.Join("..", file))
			if err != nil {
				t.Fatalf("%s: %v", c.line, err)
			}
			body = string(b)
		}
		req := httptest.NewRequest(c.method, c.target, strings.NewReader(body))
		if !c.hasBody {
			req = httptest.NewRequest(c.method, c.target, nil)
		}
		for _, h := range c.headers {
			req.Header.Set(h[0], os.Expand(h[1], func(k string) string { return vars[k] }))
		}
		sent := req.Clone(context.Background())
		w := httptest.NewRecorder()
		svc.Handler().ServeHTTP(w, req)
		v, err := o.Check(context.Background(), testkit.Exchange{
			Request: sent, RequestBody: []byte(body), Status: w.Code, Header: w.Header(), Body: w.Body.Bytes(),
		})
		if err != nil {
			t.Errorf("%s\n→ %d: %v", c.line, w.Code, err)
			continue
		}
		if v.RequestRefused != nil {
			t.Errorf("%s: the document refuses the README's request: %v", c.line, v.RequestRefused)
		}
		key := c.method + " " + req.URL.Path
		if want, ok := required[key]; ok {
			delete(required, key)
			if w.Code != want {
				t.Errorf("%s → %d, want %d: %s", c.line, w.Code, want, w.Body)
			}
		} else if w.Code >= 400 && !(c.method == "GET" && strings.HasPrefix(key, "GET /orders/")) {
			// Only the order lookup's example says it may be a 404.
			t.Errorf("%s → %d: %s", c.line, w.Code, w.Body)
		}
	}
	for key := range required {
		t.Errorf("README's API section has no %s example", key)
	}
	t.Logf("%d README requests validated", len(calls))
}

// readmeCurls returns the curl commands of the first sh block after the
// "## API" heading, continuation lines joined and comments dropped.
func readmeCurls(readme string) ([]curlCall, error) {
	_, section, ok := strings.Cut(readme, "\n## API\n")
	if !ok {
		return nil, fmt.Errorf("README.md has no ## API section")
	}
	_, block, ok := strings.Cut(section, "```sh\n")
	if !ok {
		return nil, fmt.Errorf("the API section has no sh block")
	}
	block, _, _ = strings.Cut(block, "```")
	var calls []curlCall
	var cmd strings.Builder
	sc := bufio.NewScanner(strings.NewReader(block))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont, ok := strings.CutSuffix(line, `\`); ok {
			cmd.WriteString(cont + " ")
			continue
		}
		cmd.WriteString(line)
		full := cmd.String()
		cmd.Reset()
		if !strings.HasPrefix(full, "curl ") {
			continue
		}
		c, err := parseCurl(full)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", full, err)
		}
		calls = append(calls, c)
	}
	if len(calls) == 0 {
		return nil, fmt.Errorf("the API section's sh block has no curl command")
	}
	return calls, nil
}

// parseCurl reads the few curl options the README uses: -X, -H, -d and
// the silent/include flags, with shell quoting; "# …" ends the command.
func parseCurl(line string) (curlCall, error) {
	words, err := shellWords(line)
	if err != nil {
		return curlCall{}, err
	}
	c := curlCall{line: line}
	for i := 1; i < len(words); i++ {
		w := words[i]
		next := func() (string, error) {
			if i+1 >= len(words) {
				return "", fmt.Errorf("%s needs a value", w)
			}
			i++
			return words[i], nil
		}
		switch {
		case w == "-X":
			if c.method, err = next(); err != nil {
				return c, err
			}
		case w == "-H":
			h, err := next()
			if err != nil {
				return c, err
			}
			name, value, ok := strings.Cut(h, ":")
			if !ok {
				return c, fmt.Errorf("header %q has no colon", h)
			}
			c.headers = append(c.headers, [2]string{strings.TrimSpace(name), strings.TrimSpace(value)})
		case w == "-d":
			if c.body, err = next(); err != nil {
				return c, err
			}
			c.hasBody = true
		case w == "-s" || w == "-si" || w == "-i":
		case strings.HasPrefix(w, "-"):
			return c, fmt.Errorf("unknown curl option %s", w)
		default:
			host, target, ok := strings.Cut(w, "/")
			if !ok || host != "localhost:8080" {
				return c, fmt.Errorf("URL %q is not on localhost:8080", w)
			}
			c.target = "/" + target
		}
	}
	if c.target == "" {
		return c, fmt.Errorf("no URL")
	}
	if c.method == "" {
		c.method = http.MethodGet
		if c.hasBody {
			c.method = http.MethodPost
		}
	}
	return c, nil
}

// shellWords splits a command line as sh would for the README's needs:
// single and double quotes (no expansion here: $VARS are expanded later,
// in header values), and an unquoted # starting a comment.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur bytes.Buffer
	inWord := false
	for i := 0; i < len(line); i++ {
		ch := line[i]
		switch {
		case ch == '\'' || ch == '"':
			end := strings.IndexByte(line[i+1:], ch)
			if end < 0 {
				return nil, fmt.Errorf("unterminated %c quote", ch)
			}
			cur.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case ch == ' ' || ch == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case ch == '#' && !inWord:
			i = len(line)
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}
