package handlers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/riptides/driverbuild/buildapi"
	"github.com/riptides/driverbuild/kernel"
)

// requestFields are the keys of a POST /build body: kernel.Request's.
var requestFields = jsonKeys(reflect.TypeFor[kernel.Request]())

func jsonKeys(t reflect.Type) []string {
	var keys []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		keys = append(keys, name)
	}
	return keys
}

// accepted says which keys a body may have, for error messages.
func accepted() string {
	return strings.Join(requestFields[:len(requestFields)-1], ", ") + " and " + requestFields[len(requestFields)-1]
}

// decodeRequest reads a POST /build body strictly: JSON only, one object
// of string values under known keys, at most MaxBodyBytes. A key given
// twice or in another case is refused: encoding/json would take the last
// one, or match it case-insensitively, and the build dispatched would not
// be the one a log or a proxy reading the first key saw.
func decodeRequest(w http.ResponseWriter, r *http.Request) (kernel.Request, int, *buildapi.Error) {
	fail := func(code int, field, format string, args ...any) (kernel.Request, int, *buildapi.Error) {
		return kernel.Request{}, code, &buildapi.Error{Error: fmt.Sprintf(format, args...), Field: clip(field)}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return fail(http.StatusUnsupportedMediaType, "", "Content-Type must be application/json, got %q", clip(r.Header.Get("Content-Type")))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return fail(http.StatusRequestEntityTooLarge, "", "body is larger than %d bytes", MaxBodyBytes)
	case err != nil:
		return fail(http.StatusBadRequest, "", "read body: %v", err)
	case len(bytes.TrimSpace(body)) == 0:
		return fail(http.StatusBadRequest, "", "empty body: send a JSON object with %s (distro_version optional)", accepted())
	}
	plain := plainObject(body)
	if !plain {
		if field, err := checkObject(body); err != nil {
			return fail(http.StatusBadRequest, field, "%v", err)
		}
	}
	var req kernel.Request
	if err := json.Unmarshal(body, &req); err != nil {
		if plain { // a bad escape in a value: checkObject says where
			if field, err := checkObject(body); err != nil {
				return fail(http.StatusBadRequest, field, "%v", err)
			}
		}
		return fail(http.StatusBadRequest, "", "invalid JSON body: %v", err)
	}
	return req, 0, nil
}

// plainObject reports whether a body is what loaders send, which
// checkObject would accept: one object of known keys, each once, spelled
// exactly and without escapes, with string or null values. It reads the
// body once, without the tokenizer's cost, which was the largest part of a
// cached answer's; anything else (or anything it is unsure of) is left to
// checkObject, which also words the errors.
func plainObject(b []byte) bool {
	i := skipSpace(b, 0)
	if i == len(b) || b[i] != '{' {
		return false
	}
	var seen [8]string // more keys than requestFields is refused below
	n := 0
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return skipSpace(b, i+1) == len(b)
	}
	for {
		if i == len(b) || b[i] != '"' {
			return false
		}
		end := bytes.IndexByte(b[i+1:], '"')
		if end < 0 {
			return false
		}
		key := b[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 || !slices.Contains(requestFields, string(key)) || slices.Contains(seen[:n], string(key)) || n == len(seen) {
			return false
		}
		seen[n] = string(key)
		n++
		i = skipSpace(b, i+2+end)
		if i == len(b) || b[i] != ':' {
			return false
		}
		i = skipSpace(b, i+1)
		switch {
		case bytes.HasPrefix(b[i:], []byte("null")):
			i += len("null")
		case i < len(b) && b[i] == '"':
			if i = stringEnd(b, i+1); i < 0 {
				return false
			}
		default:
			return false
		}
		i = skipSpace(b, i)
		if i == len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return skipSpace(b, i+1) == len(b)
		default:
			return false
		}
	}
}

// stringEnd returns the index after the closing quote of a JSON string
// whose content starts at i, or -1 for an unterminated one or a raw
// control character. Escapes are skipped, not checked: json.Unmarshal
// checks them.
func stringEnd(b []byte, i int) int {
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c == '\\':
			i++
		case c < 0x20:
			return -1
		}
	}
	return -1
}

// skipSpace returns the index of the first byte from i that is not JSON
// whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// checkObject accepts one JSON object whose keys are requestFields, each
// at most once and spelled exactly, with string (or null) values, and
// nothing after it. It returns the key at fault with the error.
func checkObject(body []byte) (field string, err error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	token := func() (json.Token, error) {
		t, err := dec.Token()
		var syntax *json.SyntaxError
		switch {
		case errors.As(err, &syntax):
			return nil, fmt.Errorf("malformed JSON at byte %d: %v", syntax.Offset, syntax)
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return nil, errors.New("malformed JSON: the body ends inside the object")
		case err != nil:
			return nil, fmt.Errorf("malformed JSON: %v", err)
		}
		return t, nil
	}
	t, err := token()
	if err != nil {
		return "", err
	}
	if t != json.Delim('{') {
		return "", fmt.Errorf("the body must be a JSON object with %s", accepted())
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := token()
		if err != nil {
			return "", err
		}
		key := t.(string) // inside an object, dec.Token returns a key here or fails
		canonical := slices.IndexFunc(requestFields, func(f string) bool { return strings.EqualFold(f, key) })
		switch {
		case seen[key]:
			return key, fmt.Errorf("%q appears more than once: give each field once", clip(key))
		case canonical < 0:
			return key, fmt.Errorf("unknown field %q: accepted are %s", clip(key), accepted())
		case requestFields[canonical] != key:
			return key, fmt.Errorf("unknown field %q: field names are case-sensitive; did you mean %q?", clip(key), requestFields[canonical])
		}
		seen[key] = true
		v, err := token()
		if err != nil {
			return "", err
		}
		switch v.(type) {
		case string, nil:
		default:
			return key, fmt.Errorf("%s must be a JSON string", key)
		}
	}
	if _, err := token(); err != nil { // the closing brace
		return "", err
	}
	if _, err := dec.Token(); err != io.EOF {
		return "", errors.New("trailing data after the JSON object")
	}
	return "", nil
}
