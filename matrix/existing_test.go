package matrix_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/matrix"
)

func TestReadExisting(t *testing.T) {
	t.Parallel()
	want := map[string]bool{"a.deb": true, "a.deb.sha256": true, "b.rpm": true}
	for name, in := range map[string]string{
		"lines":       "a.deb\na.deb.sha256\n\n  b.rpm  \n",
		"json array":  ` ["a.deb", "a.deb.sha256", "b.rpm"]` + "\n",
		"crlf lines":  "a.deb\r\na.deb.sha256\r\nb.rpm\r\n",
		"no last eol": "a.deb\na.deb.sha256\nb.rpm",
	} {
		got, err := matrix.ReadExisting(strings.NewReader(in))
		require.NoError(t, err, name)
		require.Equal(t, want, got, name)
	}
	_, err := matrix.ReadExisting(strings.NewReader(`["a.deb", 3]`))
	require.ErrorContains(t, err, "accepted are a JSON array of names or one name per line")
	got, err := matrix.ReadExisting(strings.NewReader(""))
	require.NoError(t, err)
	require.Empty(t, got)
}

// fakeReleases serves a release with assets over two pages, and 404 for any
// other tag.
func fakeReleases(t *testing.T, assets []string) *github.Client {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /repos/acme/drivers/releases/tags/{tag}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer t0ken" {
			http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
			return
		}
		if r.PathValue("tag") != "v0.1.2" {
			http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, `{"id": 42, "tag_name": "v0.1.2"}`)
	})
	mux.HandleFunc("GET /repos/acme/drivers", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"id": 7, "full_name": "acme/drivers"}`)
	})
	var srvURL string
	mux.HandleFunc("GET /repos/acme/drivers/releases/42/assets", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("per_page") != "100" {
			http.Error(w, `{"message":"want per_page=100"}`, http.StatusBadRequest)
			return
		}
		page := assets[:len(assets)/2]
		if r.URL.Query().Get("page") == "2" {
			page = assets[len(assets)/2:]
		} else {
			w.Header().Set("Link", fmt.Sprintf(`<%s/repos/acme/drivers/releases/42/assets?per_page=100&page=2>; rel="next"`, srvURL))
		}
		var parts []string
		for i, a := range page {
			parts = append(parts, fmt.Sprintf(`{"id": %d, "name": %q}`, i, a))
		}
		fmt.Fprint(w, "["+strings.Join(parts, ",")+"]")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	srvURL = srv.URL
	gh := github.NewClient(nil).WithAuthToken("t0ken")
	gh.BaseURL, _ = url.Parse(srv.URL + "/")
	return gh
}

func TestExistingAssets(t *testing.T) {
	t.Parallel()
	gh := fakeReleases(t, []string{"a.deb", "a.deb.sha256", "b.rpm", "b.rpm.sha256", "c.rpm"})
	got, err := matrix.ExistingAssets(context.Background(), gh, "acme", "drivers", "v0.1.2")
	require.NoError(t, err)
	require.Equal(t, map[string]bool{"a.deb": true, "a.deb.sha256": true, "b.rpm": true, "b.rpm.sha256": true, "c.rpm": true}, got)

	_, err = matrix.ExistingAssets(context.Background(), gh, "acme", "drivers", "v9.9.9")
	require.ErrorContains(t, err, "acme/drivers has no release v9.9.9", "the builds would upload to a release that is not there")

	_, err = matrix.ExistingAssets(context.Background(), gh, "acme", "other", "v0.1.2")
	require.ErrorContains(t, err, "repository acme/other", "a missing repository is an error, not an empty release")
}
