package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/getsentry/sentry-go"
)

// Limits on secrets, used by validation and by its messages.
const (
	// MinTokenBytes is the shortest accepted *_TOKEN.
	MinTokenBytes = 16
	// MaxTokenBytes is the longest accepted *_TOKEN: it must fit in an
	// Authorization header well below the server's header limit.
	MaxTokenBytes = 4096
	// MaxSecretFileBytes bounds what is read from a NAME_FILE.
	MaxSecretFileBytes = 64 << 10
)

// ReadSecretFile reads a NAME_FILE secret, refusing files larger than
// MaxSecretFileBytes (so a path such as /dev/zero cannot hang Load). It is
// the readFile Load uses when given nil.
func ReadSecretFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSecretFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxSecretFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxSecretFileBytes)
	}
	return b, nil
}

// secret returns the value of NAME, or the content of the file named by
// NAME_FILE with exactly one trailing newline stripped (nothing else: a
// second line, a space or a CR stay, and are refused by the checks that
// follow). varName is the variable the value came from, for messages.
func secret(lookup func(string) (string, bool), readFile func(string) ([]byte, error), name string) (value, varName string, err error) {
	inline, hasInline := lookup(name)
	path, hasFile := lookup(name + "_FILE")
	hasInline = hasInline && inline != ""
	hasFile = hasFile && path != ""
	switch {
	case hasInline && hasFile:
		return "", name, &Error{Var: name, Reason: "set either " + name + " or " + name + "_FILE, not both"}
	case hasFile:
		fileVar := name + "_FILE"
		b, err := readFile(path)
		if err != nil {
			reason := err.Error()
			var pe *os.PathError
			if errors.As(err, &pe) {
				reason = pe.Err.Error() // the path is in the message already
			}
			return "", fileVar, &Error{Var: fileVar, Reason: fmt.Sprintf("cannot read %q: %s", truncate(path), oneLine(reason)), Err: err}
		}
		v := strings.TrimSuffix(string(b), "\n")
		if v == "" {
			return "", fileVar, &Error{Var: fileVar, Reason: fmt.Sprintf("%q is empty", truncate(path))}
		}
		return v, fileVar, nil
	default:
		return inline, name, nil
	}
}

// checkToken returns why v is not an acceptable bearer token, or "". The
// reason never contains v.
func checkToken(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	if i := strings.IndexByte(v, '\n'); i >= 0 && i < len(v)-1 {
		return "holds more than one line"
	}
	if i := strings.IndexFunc(v, isSpaceOrControl); i >= 0 {
		r, _ := utf8.DecodeRuneInString(v[i:])
		what := "whitespace"
		if !unicode.IsSpace(r) {
			what = "a control or invisible formatting character"
		}
		where := "inside it"
		switch {
		case i == 0:
			where = "at its start"
		case i+utf8.RuneLen(r) == len(v):
			where = "at its end"
			if r == '\r' {
				where += " (a CRLF line ending?)"
			}
		}
		return "contains " + what + " " + where
	}
	if len(v) < MinTokenBytes {
		return fmt.Sprintf("is shorter than %d bytes", MinTokenBytes)
	}
	if len(v) > MaxTokenBytes {
		return fmt.Sprintf("is longer than %d bytes", MaxTokenBytes)
	}
	return ""
}

// isSpaceOrControl reports the runes a secret must not hold: whitespace,
// control characters, and invisible format characters such as a
// byte-order mark or a zero-width space.
func isSpaceOrControl(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
}

// oneLine keeps the first line of an error text from elsewhere.
func oneLine(s string) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

// sentryReason keeps only the fixed reasons sentry.NewDsn gives (after its
// "[Sentry] DsnParseError: " prefix) that are safe to repeat: none holds
// the DSN. Anything else it says is replaced by a generic reason.
func sentryReason(err error) string {
	r := strings.TrimPrefix(err.Error(), "[Sentry] DsnParseError: ")
	switch r {
	case "invalid scheme", "empty username", "empty host", "invalid port", "empty project id":
		return r
	}
	return "not parseable"
}

// checkSentryDSN returns why v is not a usable Sentry DSN, or "". The
// reason never contains v or any part of it.
func checkSentryDSN(v string) string {
	const want = "is not a Sentry DSN (want http(s)://<public key>@<host>/<project id>)"
	if strings.ContainsFunc(v, isSpaceOrControl) || !utf8.ValidString(v) {
		return want + ": contains whitespace or control characters"
	}
	u, err := url.Parse(v) // its error would quote the DSN: not used
	if err != nil {
		return want + ": not a URL"
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return want + ": the scheme is not http or https"
	}
	if _, err := sentry.NewDsn(v); err != nil {
		return want + ": " + sentryReason(err)
	}
	if p := u.Port(); p != "" && !isPort(p) {
		return want + ": invalid port"
	}
	return ""
}

// isPort reports whether p is a TCP port number from 1 to 65535.
func isPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 1 && n <= 65535
}
