package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/ordersvc/ordersvc/internal/loadgen"
)

// maxFaultsLen bounds the -faults JSON.
const maxFaultsLen = 64 << 10

// parseFaults checks that s is one JSON object and returns it compacted.
// Field names and values are left to the server to judge.
func parseFaults(s string) ([]byte, error) {
	if len(s) > maxFaultsLen {
		return nil, fmt.Errorf("longer than %d bytes", maxFaultsLen)
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(&obj); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if obj == nil {
		return nil, errors.New("not a JSON object: null")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not a JSON object: data after the object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(s)); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	return buf.Bytes(), nil
}

// putFaults sends body to PUT /admin/faults with the admin token and
// expects a 2xx. The error never contains the token.
func putFaults(ctx context.Context, base *url.URL, token string, body []byte, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	target := strings.TrimSuffix(base.String(), "/") + "/admin/faults"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("PUT /admin/faults: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", loadgen.UserAgent)
	// No proxy from the environment and no redirects, like the run's own
	// client: the admin API of the target is what is meant.
	client := &http.Client{
		Transport:     &http.Transport{Proxy: nil, TLSHandshakeTimeout: timeout},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("PUT /admin/faults %s: %w", body, err)
	}
	defer resp.Body.Close()
	detail, err := io.ReadAll(io.LimitReader(resp.Body, 512))
	if err != nil {
		return fmt.Errorf("PUT /admin/faults %s: read response: %w", body, err)
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("PUT /admin/faults %s: %s: %s", body, resp.Status, oneLine(detail))
	}
	return nil
}

// oneLine squeezes a response excerpt onto one printable line.
func oneLine(b []byte) string {
	s := strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return ' '
		}
		return r
	}, string(b))
	return strings.Join(strings.Fields(s), " ")
}
