package ghsim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/riptides/driverbuild/kernel"
)

// maxAssetSize bounds an upload; the simulator keeps assets in memory.
const maxAssetSize = 512 << 20

// releaseState holds the repository's releases and their assets.
type releaseState struct {
	mu       sync.Mutex
	releases []*release // by id
	latest   int64      // the release last made latest, 0 for none
}

type release struct {
	id                     int64
	tag, name, body        string
	target                 string
	draft, prerelease      bool
	createdAt, publishedAt time.Time
	assets                 []*asset // by id
}

type asset struct {
	id                   int64
	name, label          string
	contentType          string
	data                 []byte
	digest               string
	downloads            int
	createdAt, updatedAt time.Time
}

var (
	tagPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$`)
	assetNamePattern = regexp.MustCompile(`^[A-Za-z0-9_+~-][A-Za-z0-9._+~-]{0,254}$`)
)

func validTag(tag string) bool { return tagPattern.MatchString(tag) }

// validAssetName accepts the names GitHub keeps as given; GitHub rewrites
// others, the simulator refuses them.
func validAssetName(name string) bool { return assetNamePattern.MatchString(name) }

func validLabel(label string) bool {
	return len(label) <= 255 && !strings.ContainsFunc(label, func(r rune) bool { return r < 0x20 || r == 0x7f })
}

type releaseParams struct {
	Tag, Name, Body, Target string
	Draft, Prerelease       bool
}

func (s *Server) createReleaseLocked(p releaseParams) *release {
	now := s.now()
	rel := &release{
		id:         s.newID(),
		tag:        p.Tag,
		name:       p.Name,
		body:       p.Body,
		target:     cmpOr(p.Target, defaultBranch),
		draft:      p.Draft,
		prerelease: p.Prerelease,
		createdAt:  now,
	}
	if !p.Draft {
		rel.publishedAt = now
		s.tag(rel)
	}
	s.rel.releases = append(s.rel.releases, rel)
	return rel
}

// tag creates the tag of a published release at its target, as GitHub
// does, unless the tag exists.
func (s *Server) tag(rel *release) {
	s.repo.mu.Lock()
	defer s.repo.mu.Unlock()
	name := "refs/tags/" + rel.tag
	if _, ok := s.repo.refs[name]; ok {
		return
	}
	if sha, ok := s.repo.resolve(rel.target); ok {
		s.repo.setRef(name, sha)
	}
}

// knownTarget reports whether a release target names a branch or commit.
func (s *Server) knownTarget(target string) bool {
	s.repo.mu.RLock()
	defer s.repo.mu.RUnlock()
	if _, ok := s.repo.refs["refs/heads/"+target]; ok {
		return true
	}
	_, ok := s.repo.commit(target)
	return ok
}

func (s *Server) releaseByIDLocked(id int64) *release {
	for _, rel := range s.rel.releases {
		if rel.id == id {
			return rel
		}
	}
	return nil
}

// releaseByTagLocked finds a release by tag; drafts have no tag yet on
// GitHub, so they are found only when asked for.
func (s *Server) releaseByTagLocked(tag string, drafts bool) *release {
	for _, rel := range s.rel.releases {
		if rel.tag == tag && (drafts || !rel.draft) {
			return rel
		}
	}
	return nil
}

func (s *Server) assetByIDLocked(id int64) (*release, *asset) {
	for _, rel := range s.rel.releases {
		for _, a := range rel.assets {
			if a.id == id {
				return rel, a
			}
		}
	}
	return nil, nil
}

func (rel *release) assetByName(name string) *asset {
	for _, a := range rel.assets {
		if a.name == name {
			return a
		}
	}
	return nil
}

func (rel *release) removeAsset(id int64) {
	rel.assets = slices.DeleteFunc(rel.assets, func(a *asset) bool { return a.id == id })
}

// Why GitHub refuses an upload with 422.
var (
	errAssetExists = errors.New("asset already exists")
	errAssetCap    = fmt.Errorf("a release holds at most %d assets", kernel.ReleaseAssetLimit)
)

// assetRefusal is GitHub's 422 body for err from addAssetLocked.
func assetRefusal(err error) apiError {
	if errors.Is(err, errAssetCap) {
		return apiError{
			Message: "Validation Failed",
			Errors: []fieldError{{
				Resource: "ReleaseAsset", Code: "custom", Field: "file_count",
				Message: fmt.Sprintf("file_count limited to %d assets per release", kernel.ReleaseAssetLimit),
			}},
			DocumentationURL: docsURL + "/releases/assets#upload-a-release-asset",
			Status:           "422",
		}
	}
	return alreadyExists("ReleaseAsset", "name")
}

func (s *Server) addAssetLocked(rel *release, name, label, contentType string, data []byte) (*asset, error) {
	// GitHub enforces the cap since July 2025.
	if len(rel.assets) >= kernel.ReleaseAssetLimit {
		return nil, errAssetCap
	}
	if rel.assetByName(name) != nil {
		return nil, errAssetExists
	}
	now := s.now()
	a := &asset{
		id:          s.newID(),
		name:        name,
		label:       label,
		contentType: contentType,
		data:        data,
		digest:      "sha256:" + hashHex(data),
		createdAt:   now,
		updatedAt:   now,
	}
	rel.assets = append(rel.assets, a)
	return a, nil
}

func (s *Server) bot() userJSON {
	return s.urls().user(s.cfg.AppSlug+"[bot]", botAccountIDs+s.cfg.AppID, "Bot")
}

func (s *Server) releaseJSONLocked(rel *release) releaseJSON {
	u := s.urls()
	api := u.repoAPI() + "/releases/" + strconv.FormatInt(rel.id, 10)
	tag := url.PathEscape(rel.tag)
	out := releaseJSON{
		URL:             api,
		AssetsURL:       api + "/assets",
		UploadURL:       u.uploads + "/repos/" + u.owner + "/" + u.repo + "/releases/" + strconv.FormatInt(rel.id, 10) + "/assets{?name,label}",
		HTMLURL:         u.repoHTML() + "/releases/tag/" + tag,
		ID:              rel.id,
		Author:          s.bot(),
		NodeID:          nodeID("Release", rel.id),
		TagName:         rel.tag,
		TargetCommitish: rel.target,
		Name:            rel.name,
		Draft:           rel.draft,
		Prerelease:      rel.prerelease,
		CreatedAt:       timestamp(rel.createdAt),
		PublishedAt:     timestamp(rel.publishedAt),
		Assets:          []assetJSON{},
		TarballURL:      u.repoAPI() + "/tarball/" + tag,
		ZipballURL:      u.repoAPI() + "/zipball/" + tag,
		Body:            rel.body,
	}
	for _, a := range rel.assets {
		out.Assets = append(out.Assets, s.assetJSONLocked(rel, a))
	}
	return out
}

func (s *Server) assetJSONLocked(rel *release, a *asset) assetJSON {
	u := s.urls()
	return assetJSON{
		URL:                u.repoAPI() + "/releases/assets/" + strconv.FormatInt(a.id, 10),
		ID:                 a.id,
		NodeID:             nodeID("ReleaseAsset", a.id),
		Name:               a.name,
		Label:              a.label,
		Uploader:           s.bot(),
		ContentType:        a.contentType,
		State:              "uploaded",
		Size:               len(a.data),
		Digest:             a.digest,
		DownloadCount:      a.downloads,
		CreatedAt:          timestamp(a.createdAt),
		UpdatedAt:          timestamp(a.updatedAt),
		BrowserDownloadURL: u.repoHTML() + "/releases/download/" + url.PathEscape(rel.tag) + "/" + url.PathEscape(a.name),
	}
}

// listReleases is GET /repos/{owner}/{repo}/releases, newest first.
func (s *Server) listReleases(w http.ResponseWriter, r *http.Request) {
	p := parsePage(r.URL.Query())
	s.rel.mu.Lock()
	all := slices.Clone(s.rel.releases)
	slices.Reverse(all)
	out := []releaseJSON{}
	for _, rel := range paginate(all, p) {
		out = append(out, s.releaseJSONLocked(rel))
	}
	s.rel.mu.Unlock()
	setLink(w, r, s.URL(), p, len(all))
	writeJSON(w, r, http.StatusOK, out)
}

type createReleaseRequest struct {
	TagName         *string `json:"tag_name"`
	TargetCommitish *string `json:"target_commitish"`
	Name            *string `json:"name"`
	Body            *string `json:"body"`
	Draft           *bool   `json:"draft"`
	Prerelease      *bool   `json:"prerelease"`
	MakeLatest      *string `json:"make_latest"`
}

var makeLatestValues = []string{"true", "false", "legacy"}

// validMakeLatest refuses a make_latest GitHub would refuse.
func validMakeLatest(w http.ResponseWriter, r *http.Request, v *string) bool {
	if v != nil && !slices.Contains(makeLatestValues, *v) {
		invalidRequest(w, r, fmt.Sprintf("For 'properties/make_latest', %q is not one of %s.", *v, strings.Join(makeLatestValues, ", ")))
		return false
	}
	return true
}

// makeLatestLocked applies make_latest to a release: "true" (the default)
// makes it the latest, "false" leaves the latest alone, "legacy" lets the
// newest release be the latest. Drafts and prereleases are never latest.
func (s *Server) makeLatestLocked(rel *release, how string) {
	if rel.draft || rel.prerelease {
		return
	}
	switch how {
	case "", "true":
		s.rel.latest = rel.id
	case "legacy":
		s.rel.latest = 0
	}
}

// latestLocked is the latest release: the one last made latest while it
// still may be, else the newest published full release.
func (s *Server) latestLocked() *release {
	eligible := func(rel *release) bool { return rel != nil && !rel.draft && !rel.prerelease }
	if rel := s.releaseByIDLocked(s.rel.latest); eligible(rel) {
		return rel
	}
	for _, rel := range slices.Backward(s.rel.releases) {
		if eligible(rel) {
			return rel
		}
	}
	return nil
}

// getLatestRelease is GET /repos/{owner}/{repo}/releases/latest.
func (s *Server) getLatestRelease(w http.ResponseWriter, r *http.Request) {
	respond(w, r, &s.rel.mu, func() (int, any) {
		rel := s.latestLocked()
		if rel == nil {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, s.releaseJSONLocked(rel)
	})
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		writeError(w, r, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// createRelease is POST /repos/{owner}/{repo}/releases.
func (s *Server) createRelease(w http.ResponseWriter, r *http.Request) {
	var req createReleaseRequest
	if !decodeBody(w, r, &req) {
		return
	}
	tag := deref(req.TagName)
	switch {
	case req.TagName == nil:
		writeError(w, r, http.StatusUnprocessableEntity, "Invalid request.\n\n\"tag_name\" wasn't supplied.")
		return
	case !validTag(tag):
		writeError(w, r, http.StatusUnprocessableEntity, "Validation Failed: tag_name is not a valid tag")
		return
	case deref(req.TargetCommitish) != "" && !s.knownTarget(deref(req.TargetCommitish)):
		writeError(w, r, http.StatusUnprocessableEntity, "Validation Failed: target_commitish is invalid")
		return
	case len(deref(req.Name)) > 1024 || len(deref(req.Body)) > 125000:
		writeError(w, r, http.StatusUnprocessableEntity, "Validation Failed: name or body is too long")
		return
	case !validMakeLatest(w, r, req.MakeLatest):
		return
	}
	respond(w, r, &s.rel.mu, func() (int, any) {
		if s.releaseByTagLocked(tag, true) != nil {
			return http.StatusUnprocessableEntity, alreadyExists("Release", "tag_name")
		}
		rel := s.createReleaseLocked(releaseParams{
			Tag:        tag,
			Target:     deref(req.TargetCommitish),
			Name:       deref(req.Name),
			Body:       deref(req.Body),
			Draft:      deref(req.Draft),
			Prerelease: deref(req.Prerelease),
		})
		s.makeLatestLocked(rel, deref(req.MakeLatest))
		s.releaseEventLocked("created", rel)
		if !rel.draft {
			s.publishedEventsLocked(rel)
		}
		body := s.releaseJSONLocked(rel)
		w.Header().Set("Location", body.URL)
		return http.StatusCreated, body
	})
}

// createShardLocked creates the shard release tag of a driver version as
// upload-package.sh does: a pre-release, never latest, at the driver
// version's commit (main's head when it has no tag).
func (s *Server) createShardLocked(driverVersion, tag string) *release {
	s.repo.mu.RLock()
	target, ok := s.repo.resolve("refs/tags/" + driverVersion)
	if !ok {
		target, _ = s.repo.resolve(defaultBranch)
	}
	s.repo.mu.RUnlock()
	rel := s.createReleaseLocked(releaseParams{
		Tag: tag, Name: driverVersion + " packages, " + tag, Target: target, Prerelease: true,
	})
	s.makeLatestLocked(rel, "false")
	s.releaseEventLocked("created", rel)
	s.publishedEventsLocked(rel)
	return rel
}

// publishedEventsLocked sends what GitHub sends when a release is published.
func (s *Server) publishedEventsLocked(rel *release) {
	s.releaseEventLocked("published", rel)
	if rel.prerelease {
		s.releaseEventLocked("prereleased", rel)
	} else {
		s.releaseEventLocked("released", rel)
	}
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "release_id")
	respond(w, r, &s.rel.mu, func() (int, any) {
		rel := s.releaseByIDLocked(id)
		if rel == nil {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, s.releaseJSONLocked(rel)
	})
}

// updateRelease is PATCH /repos/{owner}/{repo}/releases/{release_id};
// publishing a draft sends the published events.
func (s *Server) updateRelease(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "release_id")
	var req createReleaseRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.TagName != nil && !validTag(*req.TagName) {
		writeError(w, r, http.StatusUnprocessableEntity, "Validation Failed: tag_name is not a valid tag")
		return
	}
	if !validMakeLatest(w, r, req.MakeLatest) {
		return
	}
	respond(w, r, &s.rel.mu, func() (int, any) {
		rel := s.releaseByIDLocked(id)
		if rel == nil {
			return http.StatusNotFound, "Not Found"
		}
		if req.TagName != nil && *req.TagName != rel.tag {
			if s.releaseByTagLocked(*req.TagName, true) != nil {
				return http.StatusUnprocessableEntity, alreadyExists("Release", "tag_name")
			}
			rel.tag = *req.TagName
		}
		if req.Name != nil {
			rel.name = *req.Name
		}
		if req.Body != nil {
			rel.body = *req.Body
		}
		if req.Prerelease != nil {
			rel.prerelease = *req.Prerelease
		}
		published := rel.draft && req.Draft != nil && !*req.Draft
		if req.Draft != nil {
			rel.draft = *req.Draft
		}
		if published || req.MakeLatest != nil {
			s.makeLatestLocked(rel, deref(req.MakeLatest))
		}
		if published {
			rel.publishedAt = s.now()
			s.tag(rel)
			s.publishedEventsLocked(rel)
		} else {
			s.releaseEventLocked("edited", rel)
		}
		return http.StatusOK, s.releaseJSONLocked(rel)
	})
}

func (s *Server) getReleaseByTag(w http.ResponseWriter, r *http.Request) {
	respond(w, r, &s.rel.mu, func() (int, any) {
		rel := s.releaseByTagLocked(r.PathValue("tag"), false)
		if rel == nil {
			return http.StatusNotFound, "Not Found"
		}
		return http.StatusOK, s.releaseJSONLocked(rel)
	})
}

// listAssets is GET /repos/{owner}/{repo}/releases/{release_id}/assets,
// paginated with a Link header and conditional on the page's ETag.
func (s *Server) listAssets(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "release_id")
	p := parsePage(r.URL.Query())
	s.rel.mu.Lock()
	rel := s.releaseByIDLocked(id)
	if rel == nil {
		s.rel.mu.Unlock()
		notFound(w, r)
		return
	}
	out := []assetJSON{}
	for _, a := range paginate(rel.assets, p) {
		out = append(out, s.assetJSONLocked(rel, a))
	}
	total := len(rel.assets)
	s.rel.mu.Unlock()
	setLink(w, r, s.URL(), p, total)
	writeJSON(w, r, http.StatusOK, out)
}

// getAsset is GET /repos/{owner}/{repo}/releases/assets/{asset_id}: the
// asset's JSON, or with Accept: application/octet-stream a redirect to its
// download, as GitHub answers.
func (s *Server) getAsset(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "asset_id")
	s.rel.mu.Lock()
	rel, a := s.assetByIDLocked(id)
	if a == nil {
		s.rel.mu.Unlock()
		notFound(w, r)
		return
	}
	body := s.assetJSONLocked(rel, a)
	s.rel.mu.Unlock()
	if strings.Contains(r.Header.Get("Accept"), "application/octet-stream") {
		w.Header().Set("Location", body.BrowserDownloadURL)
		w.WriteHeader(http.StatusFound)
		return
	}
	writeJSON(w, r, http.StatusOK, body)
}

func (s *Server) deleteAsset(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "asset_id")
	respond(w, r, &s.rel.mu, func() (int, any) {
		rel, a := s.assetByIDLocked(id)
		if a == nil {
			return http.StatusNotFound, "Not Found"
		}
		rel.removeAsset(a.id)
		return http.StatusNoContent, nil
	})
}

// uploadAsset is POST /api/uploads/repos/{owner}/{repo}/releases/{release_id}/assets?name=&label=.
func (s *Server) uploadAsset(w http.ResponseWriter, r *http.Request) {
	id := pathID(r, "release_id")
	name, label := r.URL.Query().Get("name"), r.URL.Query().Get("label")
	if !validAssetName(name) {
		writeError(w, r, http.StatusUnprocessableEntity, "Validation Failed: name must be 1 to 255 of A-Z a-z 0-9 . _ + ~ -")
		return
	}
	if !validLabel(label) {
		writeError(w, r, http.StatusUnprocessableEntity, "Validation Failed: label must be at most 255 printable characters")
		return
	}
	if r.ContentLength > maxAssetSize {
		writeError(w, r, http.StatusRequestEntityTooLarge, "Asset is too large for the simulator")
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAssetSize))
	if err != nil {
		writeError(w, r, http.StatusBadRequest, "Could not read the request body")
		return
	}
	if r.ContentLength >= 0 && int64(len(data)) != r.ContentLength {
		writeError(w, r, http.StatusBadRequest, "Bad Content-Length")
		return
	}
	contentType := cmpOr(r.Header.Get("Content-Type"), "application/octet-stream")
	respond(w, r, &s.rel.mu, func() (int, any) {
		rel := s.releaseByIDLocked(id)
		if rel == nil {
			return http.StatusNotFound, "Not Found"
		}
		a, err := s.addAssetLocked(rel, name, label, contentType, data)
		if err != nil {
			return http.StatusUnprocessableEntity, assetRefusal(err)
		}
		return http.StatusCreated, s.assetJSONLocked(rel, a)
	})
}

// download serves github.com's public release download path as GitHub
// does: a 302 to where the asset is stored (GitHub's is another host,
// release-assets.githubusercontent.com; here it is a path of ghsim's own,
// relative, so that it resolves through whatever address the client used).
func (s *Server) download(w http.ResponseWriter, r *http.Request) {
	s.rel.mu.Lock()
	rel := s.releaseByTagLocked(r.PathValue("tag"), false)
	var a *asset
	if rel != nil {
		a = rel.assetByName(r.PathValue("name"))
	}
	if a == nil {
		s.rel.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodGet {
		a.downloads++
	}
	id := a.id
	s.rel.mu.Unlock()
	w.Header().Set("Location", fmt.Sprintf("/_sim/release-assets/%d", id))
	w.WriteHeader(http.StatusFound)
}

// storedAsset serves an asset's bytes where download redirects.
func (s *Server) storedAsset(w http.ResponseWriter, r *http.Request) {
	s.rel.mu.Lock()
	_, a := s.assetByIDLocked(pathID(r, "asset_id"))
	if a == nil {
		s.rel.mu.Unlock()
		http.NotFound(w, r)
		return
	}
	data, modified, name := a.data, a.updatedAt, a.name
	s.rel.mu.Unlock()
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", "attachment; filename="+name)
	http.ServeContent(w, r, "", modified, bytes.NewReader(data))
}
