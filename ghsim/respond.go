package ghsim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

const docsURL = "https://docs.github.com/rest"

// apiError is GitHub's error body.
type apiError struct {
	Message          string       `json:"message"`
	Errors           []fieldError `json:"errors,omitempty"`
	DocumentationURL string       `json:"documentation_url"`
	Status           string       `json:"status"`
}

type fieldError struct {
	Resource string `json:"resource"`
	Code     string `json:"code"`
	Field    string `json:"field"`
	Message  string `json:"message,omitempty"`
}

// writeJSON answers with v as JSON. A successful GET carries a strong ETag
// over the body and is answered 304 without a body when If-None-Match
// names it, as GitHub's conditional requests are.
func writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "encode response", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	if status == http.StatusOK && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:]) + `"`
		h.Set("ETag", etag)
		h.Set("Cache-Control", "private, max-age=60, s-maxage=60")
		h.Set("Vary", "Accept, Authorization")
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatches applies If-None-Match's weak comparison.
func etagMatches(header, etag string) bool {
	for _, candidate := range strings.Split(header, ",") {
		candidate = strings.TrimPrefix(strings.TrimSpace(candidate), "W/")
		if candidate == "*" || candidate == etag {
			return true
		}
	}
	return false
}

// respond runs fn under mu, the lock of the area it reads, and writes its
// answer once mu is released, so that a slow client never holds a lock. A
// string body is an error message, a nil body means no body.
func respond(w http.ResponseWriter, r *http.Request, mu sync.Locker, fn func() (status int, body any)) {
	mu.Lock()
	status, body := fn()
	mu.Unlock()
	switch b := body.(type) {
	case nil:
		w.WriteHeader(status)
	case string:
		writeError(w, r, status, b)
	default:
		writeJSON(w, r, status, b)
	}
}

func writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeJSON(w, r, status, apiError{Message: msg, DocumentationURL: docsURL, Status: strconv.Itoa(status)})
}

func notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, r, http.StatusNotFound, "Not Found")
}

// alreadyExists is GitHub's 422 body for a duplicate name.
func alreadyExists(resource, field string) apiError {
	return apiError{
		Message:          "Validation Failed",
		Errors:           []fieldError{{Resource: resource, Code: "already_exists", Field: field}},
		DocumentationURL: docsURL,
		Status:           "422",
	}
}

func noContent(w http.ResponseWriter) {
	w.WriteHeader(http.StatusNoContent)
}

// pathID parses a numeric path segment, or returns 0, which names nothing:
// GitHub answers 404 for ids that are not numbers.
func pathID(r *http.Request, name string) int64 {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id < 0 {
		return 0
	}
	return id
}

// page is a page request: GitHub's per_page (default 30, at most 100) and
// page (from 1). Like GitHub, values that do not parse are ignored.
type page struct {
	perPage, number int
}

func parsePage(q url.Values) page {
	p := page{perPage: 30, number: 1}
	if n, err := strconv.Atoi(q.Get("per_page")); err == nil && n > 0 {
		p.perPage = min(n, 100)
	}
	if n, err := strconv.Atoi(q.Get("page")); err == nil && n > 0 {
		p.number = n
	}
	return p
}

// paginate returns the items on page p.
func paginate[T any](items []T, p page) []T {
	start := (p.number - 1) * p.perPage
	if start >= len(items) {
		return []T{}
	}
	return items[start:min(start+p.perPage, len(items))]
}

// setLink writes the RFC 5988 Link header GitHub sends on paginated lists:
// prev, next, last and first, each only when it points elsewhere.
func setLink(w http.ResponseWriter, r *http.Request, base string, p page, total int) {
	last := max(1, (total+p.perPage-1)/p.perPage)
	link := func(n int, rel string) string {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(n))
		q.Set("per_page", strconv.Itoa(p.perPage))
		return fmt.Sprintf(`<%s%s?%s>; rel="%s"`, base, r.URL.Path, q.Encode(), rel)
	}
	var links []string
	if p.number > 1 {
		links = append(links, link(min(p.number-1, last), "prev"))
	}
	if p.number < last {
		links = append(links, link(p.number+1, "next"), link(last, "last"))
	}
	if p.number > 1 {
		links = append(links, link(1, "first"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}

// timestamp is a GitHub time: UTC seconds, null when zero.
type timestamp time.Time

func (t timestamp) MarshalJSON() ([]byte, error) {
	if time.Time(t).IsZero() {
		return []byte("null"), nil
	}
	return []byte(time.Time(t).UTC().Format(`"2006-01-02T15:04:05Z"`)), nil
}

// optString is a string that GitHub sends as null when empty.
type optString string

func (s optString) MarshalJSON() ([]byte, error) {
	if s == "" {
		return []byte("null"), nil
	}
	return json.Marshal(string(s))
}
