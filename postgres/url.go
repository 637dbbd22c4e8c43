package postgres

import (
	"net/url"
	"sort"
	"strings"
)

// redacted replaces a secret in messages.
const redacted = "xxxxx"

// RedactURL returns raw fit for logs and errors: the password of the user
// info and any password query parameter are replaced, and a URL that does
// not parse is reduced to its scheme, so that a mistyped URL cannot leak
// its secret either.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		scheme, _, ok := strings.Cut(raw, "://")
		if !ok || strings.ContainsAny(scheme, ":/@") {
			return "(unparsable URL)"
		}
		return scheme + "://(unparsable URL)"
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", redacted)
		u.RawQuery = q.Encode()
	}
	// A URL can parse in a way nobody meant (a password holding '/' ends
	// up in the path): scrub what looks like a password anywhere.
	return scrubSecrets(u.String(), raw)
}

// scrubSecrets replaces every password raw carries, in its raw and its
// decoded form, wherever it appears in msg. It works on URLs that do not
// parse, which is when a parser's message is most likely to quote them.
func scrubSecrets(msg, raw string) string {
	for _, secret := range secretsOf(raw) {
		msg = strings.ReplaceAll(msg, secret, redacted)
	}
	return msg
}

// secretsOf returns the passwords in raw: the user info's (everything
// between the first ':' and the last '@' before the query) and the values
// of password= query parameters, raw and unescaped.
func secretsOf(raw string) []string {
	var secrets []string
	add := func(s string) {
		if s == "" {
			return
		}
		secrets = append(secrets, s)
		if u, err := url.PathUnescape(s); err == nil && u != s && u != "" {
			secrets = append(secrets, u)
		}
		if u, err := url.QueryUnescape(s); err == nil && u != s && u != "" {
			secrets = append(secrets, u)
		}
	}
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		rest = raw
	}
	head, query := rest, ""
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		head = rest[:i]
	}
	if i := strings.IndexByte(rest, '?'); i >= 0 {
		query = rest[i+1:]
	}
	// The last '@' before the query ends the user info, even when the
	// password holds '/' or '@' and the URL does not parse.
	if at := strings.LastIndexByte(head, '@'); at >= 0 {
		if _, pw, has := strings.Cut(head[:at], ":"); has {
			add(pw)
		}
	}
	if i := strings.IndexByte(query, '#'); i >= 0 {
		query = query[:i]
	}
	for _, kv := range strings.Split(query, "&") {
		if k, v, ok := strings.Cut(kv, "="); ok && strings.EqualFold(k, "password") {
			add(v)
		}
	}
	// Longest first, so that a secret containing another is replaced whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	return secrets
}
