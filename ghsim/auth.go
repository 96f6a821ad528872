package ghsim

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const (
	tokenLifetime = time.Hour
	// jwtMaxLifetime is GitHub's limit on how far in the future exp may be.
	jwtMaxLifetime = 10 * time.Minute
	// clockDrift is the skew allowed on iat and exp.
	clockDrift = 30 * time.Second
)

// authState holds the installation tokens handed out and the rate-limit
// windows they and the app's JWT are charged to.
type authState struct {
	mu     sync.Mutex
	tokens map[string]installationToken
	limits map[int64]*rateWindow
}

type installationToken struct {
	installationID int64
	expires        time.Time
}

// appBucket is the rate-limit bucket of requests made with the app's JWT.
const appBucket = 0

// authenticate checks the Authorization header against what the route
// asks for and answers 401 when it does not hold. It returns the rate-limit
// bucket: the installation id, or appBucket for the app.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, kind authKind) (int64, bool) {
	scheme, credential, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	scheme = strings.ToLower(scheme)
	if credential == "" || (scheme != "bearer" && scheme != "token") {
		writeError(w, r, http.StatusUnauthorized, "Requires authentication")
		return 0, false
	}
	if installation, ok := s.lookupToken(credential); ok && kind != authApp {
		return installation, true
	}
	if kind == authInstallation {
		writeError(w, r, http.StatusUnauthorized, "Bad credentials")
		return 0, false
	}
	if scheme != "bearer" {
		writeError(w, r, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return 0, false
	}
	if msg := s.verifyJWT(credential); msg != "" {
		writeError(w, r, http.StatusUnauthorized, msg)
		return 0, false
	}
	return appBucket, true
}

func (s *Server) lookupToken(token string) (int64, bool) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	t, ok := s.auth.tokens[token]
	if !ok || !s.cfg.Now().Before(t.expires) {
		return 0, false
	}
	return t.installationID, true
}

// verifyJWT checks an app JWT as GitHub does: RS256 signed by the app key,
// iss the app id (string or number), iat present and not in the future,
// exp in the future but at most ten minutes away. It returns GitHub's
// message for what is wrong, or "".
func (s *Server) verifyJWT(raw string) string {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, claims,
		func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithTimeFunc(s.cfg.Now),
		jwt.WithLeeway(clockDrift),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
	)
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	case errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	case err != nil:
		return "A JSON web token could not be decoded"
	}
	if _, ok := claims["iat"]; !ok {
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	exp, err := claims.GetExpirationTime()
	if err != nil || exp.Sub(s.cfg.Now()) > jwtMaxLifetime+clockDrift {
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	var iss int64
	switch v := claims["iss"].(type) {
	case string:
		iss, _ = strconv.ParseInt(v, 10, 64)
	case float64:
		iss = int64(v)
	}
	if iss != s.cfg.AppID {
		return "'Issuer' claim ('iss') must be an Integer"
	}
	return ""
}

var appPermissions = map[string]string{
	"actions":        "write",
	"administration": "read",
	"checks":         "read",
	"contents":       "write",
	"metadata":       "read",
	"pull_requests":  "write",
	"statuses":       "read",
}

var appEvents = []string{"check_run", "check_suite", "pull_request", "push", "release", "status", "workflow_job", "workflow_run"}

type appJSON struct {
	ID                 int64             `json:"id"`
	Slug               string            `json:"slug"`
	NodeID             string            `json:"node_id"`
	ClientID           string            `json:"client_id"`
	Owner              userJSON          `json:"owner"`
	Name               string            `json:"name"`
	Description        string            `json:"description"`
	ExternalURL        string            `json:"external_url"`
	HTMLURL            string            `json:"html_url"`
	CreatedAt          timestamp         `json:"created_at"`
	UpdatedAt          timestamp         `json:"updated_at"`
	Permissions        map[string]string `json:"permissions"`
	Events             []string          `json:"events"`
	InstallationsCount int               `json:"installations_count"`
}

type installationJSON struct {
	ID                  int64             `json:"id"`
	Account             userJSON          `json:"account"`
	RepositorySelection string            `json:"repository_selection"`
	AccessTokensURL     string            `json:"access_tokens_url"`
	RepositoriesURL     string            `json:"repositories_url"`
	HTMLURL             string            `json:"html_url"`
	AppID               int64             `json:"app_id"`
	AppSlug             string            `json:"app_slug"`
	TargetID            int64             `json:"target_id"`
	TargetType          string            `json:"target_type"`
	Permissions         map[string]string `json:"permissions"`
	Events              []string          `json:"events"`
	CreatedAt           timestamp         `json:"created_at"`
	UpdatedAt           timestamp         `json:"updated_at"`
	SingleFileName      optString         `json:"single_file_name"`
	SuspendedBy         *userJSON         `json:"suspended_by"`
	SuspendedAt         timestamp         `json:"suspended_at"`
}

func (s *Server) getApp(w http.ResponseWriter, r *http.Request) {
	u := s.urls()
	writeJSON(w, r, http.StatusOK, appJSON{
		ID:                 s.cfg.AppID,
		Slug:               s.cfg.AppSlug,
		NodeID:             nodeID("App", s.cfg.AppID),
		ClientID:           "Iv1." + strconv.FormatInt(s.cfg.AppID, 16),
		Owner:              u.ownerUser(),
		Name:               s.cfg.AppSlug,
		Description:        "driverbuild build-service (simulated)",
		ExternalURL:        u.web,
		HTMLURL:            u.web + "/apps/" + s.cfg.AppSlug,
		CreatedAt:          timestamp(s.started),
		UpdatedAt:          timestamp(s.started),
		Permissions:        appPermissions,
		Events:             appEvents,
		InstallationsCount: 1,
	})
}

func (s *Server) installation() installationJSON {
	u := s.urls()
	id := s.cfg.InstallationID
	return installationJSON{
		ID:                  id,
		Account:             u.ownerUser(),
		RepositorySelection: "selected",
		AccessTokensURL:     u.api + "/app/installations/" + strconv.FormatInt(id, 10) + "/access_tokens",
		RepositoriesURL:     u.api + "/installation/repositories",
		HTMLURL:             u.web + "/organizations/" + s.cfg.Owner + "/settings/installations/" + strconv.FormatInt(id, 10),
		AppID:               s.cfg.AppID,
		AppSlug:             s.cfg.AppSlug,
		TargetID:            ownerAccountID,
		TargetType:          "Organization",
		Permissions:         appPermissions,
		Events:              appEvents,
		CreatedAt:           timestamp(s.started),
		UpdatedAt:           timestamp(s.started),
	}
}

func (s *Server) listInstallations(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, []installationJSON{s.installation()})
}

func (s *Server) getInstallation(w http.ResponseWriter, r *http.Request) {
	if pathID(r, "installation_id") != s.cfg.InstallationID {
		notFound(w, r)
		return
	}
	writeJSON(w, r, http.StatusOK, s.installation())
}

func (s *Server) getRepoInstallation(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, r, http.StatusOK, s.installation())
}

// tokenRequest is the optional body of an access token request.
type tokenRequest struct {
	Repositories  []string          `json:"repositories"`
	RepositoryIDs []int64           `json:"repository_ids"`
	Permissions   map[string]string `json:"permissions"`
}

type tokenJSON struct {
	Token               string            `json:"token"`
	ExpiresAt           timestamp         `json:"expires_at"`
	Permissions         map[string]string `json:"permissions"`
	RepositorySelection string            `json:"repository_selection"`
}

// InstallationToken issues an installation token, as POST
// /app/installations/{id}/access_tokens does: for people exploring the
// simulated repository with curl.
func (s *Server) InstallationToken() (token string, expires time.Time) {
	token = "ghs_" + (rand.Text() + rand.Text())[:36]
	now := s.now()
	expires = now.Add(tokenLifetime)
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	for t, it := range s.auth.tokens {
		if !now.Before(it.expires) {
			delete(s.auth.tokens, t)
		}
	}
	s.auth.tokens[token] = installationToken{installationID: s.cfg.InstallationID, expires: expires}
	return token, expires
}

func (s *Server) createAccessToken(w http.ResponseWriter, r *http.Request) {
	if pathID(r, "installation_id") != s.cfg.InstallationID {
		notFound(w, r)
		return
	}
	var req tokenRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, r, http.StatusBadRequest, "Problems parsing JSON")
		return
	}
	for _, name := range req.Repositories {
		if !strings.EqualFold(name, s.cfg.Repo) {
			writeError(w, r, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			return
		}
	}
	for _, id := range req.RepositoryIDs {
		if id != repositoryID {
			writeError(w, r, http.StatusUnprocessableEntity, "There is at least one repository that does not exist or is not accessible to the parent installation.")
			return
		}
	}
	for name, level := range req.Permissions {
		if granted, ok := appPermissions[name]; !ok || (level == "write" && granted != "write") {
			writeError(w, r, http.StatusUnprocessableEntity, "The permissions requested are not granted to this installation.")
			return
		}
	}
	token, expires := s.InstallationToken()
	writeJSON(w, r, http.StatusCreated, tokenJSON{
		Token:               token,
		ExpiresAt:           timestamp(expires),
		Permissions:         appPermissions,
		RepositorySelection: "selected",
	})
}
