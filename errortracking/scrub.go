package errortracking

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"

	"github.com/getsentry/sentry-go"
)

// Filtered replaces a secret, and the value of a sensitive header, in an
// event.
const Filtered = "[Filtered]"

// minSecretLen is the shortest secret scrubbed by value. Shorter ones would
// shred ordinary words; config refuses such tokens anyway.
const minSecretLen = 4

// sensitiveHeaderParts mark a header as sensitive when its lowercased name
// contains one: its value never leaves the process.
var sensitiveHeaderParts = [...]string{"authorization", "cookie", "api-key", "apikey", "token", "secret", "password", "session", "auth", "csrf", "xsrf", "signature"}

// scrubber removes secrets from events: the configured secret strings
// wherever a string is found, sensitive headers, cookies, query strings,
// request bodies and user data. It is immutable after construction.
type scrubber struct {
	secrets []string
	// forms are the secrets as they may appear in bytes: raw, and as
	// encoding/json escapes them inside a string.
	forms    []string
	replacer *strings.Replacer
}

// newScrubber builds a scrubber for secrets; the DSN's own keys are added
// so that a key alone is filtered too.
func newScrubber(dsn string, secrets []string) *scrubber {
	var all []string
	add := func(s string) {
		s = strings.TrimSpace(s)
		if len(s) < minSecretLen {
			return
		}
		for _, have := range all {
			if have == s {
				return
			}
		}
		all = append(all, s)
	}
	add(dsn)
	if d, err := sentry.NewDsn(dsn); err == nil {
		add(d.GetSecretKey())
		add(d.GetPublicKey())
	}
	for _, s := range secrets {
		add(s)
	}
	// Longest first: strings.Replacer tries the old strings in argument
	// order at each position, so a DSN is replaced whole before its key is.
	for i := 1; i < len(all); i++ {
		for j := i; j > 0 && len(all[j]) > len(all[j-1]); j-- {
			all[j], all[j-1] = all[j-1], all[j]
		}
	}
	s := &scrubber{secrets: all}
	for _, v := range all {
		s.forms = append(s.forms, v)
		if b, err := json.Marshal(v); err == nil && string(b[1:len(b)-1]) != v {
			s.forms = append(s.forms, string(b[1:len(b)-1]))
		}
	}
	if len(all) > 0 {
		pairs := make([]string, 0, 2*len(all))
		for _, v := range all {
			pairs = append(pairs, v, Filtered)
		}
		s.replacer = strings.NewReplacer(pairs...)
	}
	return s
}

// str returns v with every secret replaced.
func (s *scrubber) str(v string) string {
	if s.replacer == nil || v == "" {
		return v
	}
	return s.replacer.Replace(v)
}

// leaks reports whether b (JSON, or any bytes) holds a secret.
func (s *scrubber) leaks(b []byte) bool {
	for _, v := range s.forms {
		if bytes.Contains(b, []byte(v)) {
			return true
		}
	}
	return false
}

// event scrubs ev in place and returns it. It is the body of BeforeSend and
// BeforeSendTransaction.
func (s *scrubber) event(ev *sentry.Event) *sentry.Event {
	ev.Message = s.str(ev.Message)
	ev.Transaction = s.str(ev.Transaction)
	ev.Logger = s.str(ev.Logger)
	ev.ServerName = s.str(ev.ServerName)
	// The service has no end users; whatever landed here is not ours to send.
	ev.User = sentry.User{}
	ev.Tags = s.stringMap(ev.Tags)
	for i := range ev.Fingerprint {
		ev.Fingerprint[i] = s.str(ev.Fingerprint[i])
	}
	for k, c := range ev.Contexts {
		ev.Contexts[k] = s.anyMap(c)
	}
	for _, b := range ev.Breadcrumbs {
		if b == nil {
			continue
		}
		b.Message = s.str(b.Message)
		b.Category = s.str(b.Category)
		b.Data = s.anyMap(b.Data)
	}
	for i := range ev.Exception {
		e := &ev.Exception[i]
		e.Type = s.str(e.Type)
		e.Value = s.str(e.Value)
		e.Module = s.str(e.Module)
		if e.Mechanism != nil {
			e.Mechanism.Description = s.str(e.Mechanism.Description)
			e.Mechanism.Data = s.anyMap(e.Mechanism.Data)
		}
		s.stacktrace(e.Stacktrace)
	}
	for i := range ev.Threads {
		ev.Threads[i].Name = s.str(ev.Threads[i].Name)
		s.stacktrace(ev.Threads[i].Stacktrace)
	}
	if ev.Request != nil {
		s.request(ev.Request)
	}
	for _, sp := range ev.Spans {
		if sp == nil {
			continue
		}
		sp.Name = s.str(sp.Name)
		sp.Description = s.str(sp.Description)
		sp.Tags = s.stringMap(sp.Tags)
		sp.Data = s.anyMap(sp.Data)
	}
	ev.Attachments = nil
	return ev
}

func (s *scrubber) stacktrace(st *sentry.Stacktrace) {
	if st == nil {
		return
	}
	for i := range st.Frames {
		f := &st.Frames[i]
		f.ContextLine = s.str(f.ContextLine)
		for j := range f.PreContext {
			f.PreContext[j] = s.str(f.PreContext[j])
		}
		for j := range f.PostContext {
			f.PostContext[j] = s.str(f.PostContext[j])
		}
		f.Vars = s.anyMap(f.Vars)
	}
}

// request keeps method, URL without its query, and non-sensitive headers.
func (s *scrubber) request(r *sentry.Request) {
	r.Data = ""
	r.Cookies = ""
	r.QueryString = ""
	r.Env = nil
	r.URL = s.str(stripQuery(r.URL))
	r.Method = s.str(r.Method)
	for k, v := range r.Headers {
		if sensitiveHeader(k) {
			delete(r.Headers, k)
			continue
		}
		r.Headers[k] = s.str(v)
	}
}

// stripQuery drops the query and fragment of a URL, and any userinfo.
func stripQuery(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		u.User = nil
		raw = u.String()
	}
	return raw
}

// sensitiveHeader reports whether the value of a header, tag or data key
// must not be sent, whatever it holds.
func sensitiveHeader(name string) bool {
	n := strings.ToLower(name)
	for _, p := range sensitiveHeaderParts {
		if strings.Contains(n, p) {
			return true
		}
	}
	return false
}

func (s *scrubber) stringMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return m
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if sensitiveHeader(k) {
			v = Filtered
		}
		out[s.str(k)] = s.str(v)
	}
	return out
}

// anyMap scrubs a JSON-like map recursively, into a new map.
func (s *scrubber) anyMap(m map[string]any) map[string]any {
	if len(m) == 0 {
		return m
	}
	return s.walkMap(m, 0)
}

// walkMap scrubs m into a new map. A key that names a credential
// (sensitiveHeader) has its value filtered whatever it is.
func (s *scrubber) walkMap(m map[string]any, depth int) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if sensitiveHeader(k) {
			out[s.str(k)] = Filtered
			continue
		}
		out[s.str(k)] = s.value(v, depth)
	}
	return out
}

// maxDepth bounds the recursion into nested values.
const maxDepth = 16

// value scrubs one JSON-like value. A value of a type it cannot walk is
// kept only if its JSON form holds no secret.
func (s *scrubber) value(v any, depth int) any {
	if depth > maxDepth {
		return Filtered
	}
	switch x := v.(type) {
	case nil, bool, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64:
		return v
	case string:
		return s.str(x)
	case []string:
		out := make([]string, len(x))
		for i := range x {
			out[i] = s.str(x[i])
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i := range x {
			out[i] = s.value(x[i], depth+1)
		}
		return out
	case map[string]string:
		return s.stringMap(x)
	case map[string]any:
		return s.walkMap(x, depth+1)
	default:
		b, err := json.Marshal(v)
		if err != nil || s.leaks(b) {
			return Filtered
		}
		return v
	}
}
