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
	if field, err := checkObject(body); err != nil {
		return fail(http.StatusBadRequest, field, "%v", err)
	}
	var req kernel.Request
	if err := json.Unmarshal(body, &req); err != nil { // checked above: not expected
		return fail(http.StatusBadRequest, "", "invalid JSON body: %v", err)
	}
	return req, 0, nil
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
