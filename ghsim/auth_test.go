package ghsim_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

func signJWT(t *testing.T, key *rsa.PrivateKey, method jwt.SigningMethod, claims jwt.MapClaims) string {
	t.Helper()
	var signKey any = key
	if method == jwt.SigningMethodHS256 {
		signKey = []byte("not-the-key")
	}
	s, err := jwt.NewWithClaims(method, claims).SignedString(signKey)
	require.NoError(t, err)
	return s
}

func TestAppJWT(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{AppID: 42})
	key, err := jwt.ParseRSAPrivateKeyFromPEM(sim.PrivateKeyPEM())
	require.NoError(t, err)
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	now := time.Now()
	valid := func() jwt.MapClaims {
		return jwt.MapClaims{"iss": "42", "iat": now.Add(-30 * time.Second).Unix(), "exp": now.Add(2 * time.Minute).Unix()}
	}
	with := func(k string, v any) jwt.MapClaims {
		c := valid()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}

	tests := map[string]struct {
		auth func() string
		want int
	}{
		"string iss":  {func() string { return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, valid()) }, http.StatusOK},
		"numeric iss": {func() string { return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("iss", 42)) }, http.StatusOK},
		"ten minutes": {func() string {
			return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("exp", now.Add(10*time.Minute).Unix()))
		}, http.StatusOK},
		"other app": {func() string { return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("iss", "43")) }, http.StatusUnauthorized},
		"no iss":    {func() string { return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("iss", nil)) }, http.StatusUnauthorized},
		"other key": {func() string { return "Bearer " + signJWT(t, otherKey, jwt.SigningMethodRS256, valid()) }, http.StatusUnauthorized},
		"HS256":     {func() string { return "Bearer " + signJWT(t, key, jwt.SigningMethodHS256, valid()) }, http.StatusUnauthorized},
		"expired": {func() string {
			return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("exp", now.Add(-5*time.Minute).Unix()))
		}, http.StatusUnauthorized},
		"exp too far": {func() string {
			return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("exp", now.Add(15*time.Minute).Unix()))
		}, http.StatusUnauthorized},
		"no exp": {func() string { return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("exp", nil)) }, http.StatusUnauthorized},
		"no iat": {func() string { return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("iat", nil)) }, http.StatusUnauthorized},
		"iat in the future": {func() string {
			return "Bearer " + signJWT(t, key, jwt.SigningMethodRS256, with("iat", now.Add(5*time.Minute).Unix()))
		}, http.StatusUnauthorized},
		"token scheme":       {func() string { return "token " + signJWT(t, key, jwt.SigningMethodRS256, valid()) }, http.StatusUnauthorized},
		"garbage":            {func() string { return "Bearer not.a.jwt" }, http.StatusUnauthorized},
		"none":               {func() string { return "" }, http.StatusUnauthorized},
		"installation token": {func() string { return "Bearer " + installationToken(t, sim) }, http.StatusUnauthorized},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			resp, body := call(t, http.MethodGet, apiURL(sim)+"/app", tc.auth(), nil)
			require.Equal(t, tc.want, resp.StatusCode, string(body))
			if tc.want == http.StatusUnauthorized {
				require.Contains(t, string(body), `"message"`)
			}
		})
	}
}

func TestAppEndpoints(t *testing.T) {
	t.Parallel()
	sim := startSim(t, ghsim.Config{AppID: 7, InstallationID: 99})
	gh := appClient(t, sim)
	ctx := context.Background()

	app, _, err := gh.Apps.Get(ctx, "")
	require.NoError(t, err)
	require.Equal(t, int64(7), app.GetID())

	installs, _, err := gh.Apps.ListInstallations(ctx, nil)
	require.NoError(t, err)
	require.Len(t, installs, 1)
	require.Equal(t, int64(99), installs[0].GetID())
	require.Equal(t, "riptides", installs[0].GetAccount().GetLogin())

	inst, _, err := gh.Apps.GetInstallation(ctx, 99)
	require.NoError(t, err)
	require.Equal(t, int64(7), inst.GetAppID())
	_, resp, err := gh.Apps.GetInstallation(ctx, 98)
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	inst, _, err = gh.Apps.FindRepositoryInstallation(ctx, "riptides", "driver")
	require.NoError(t, err)
	require.Equal(t, int64(99), inst.GetID())
	_, resp, err = gh.Apps.FindRepositoryInstallation(ctx, "riptides", "other")
	require.Error(t, err)
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	tok, resp, err := gh.Apps.CreateInstallationToken(ctx, 99, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	require.Regexp(t, `^ghs_[A-Za-z0-9]{36}$`, tok.GetToken())
	require.WithinDuration(t, time.Now().Add(time.Hour), tok.GetExpiresAt().Time, time.Minute)
}

func TestInstallationTokenAuth(t *testing.T) {
	t.Parallel()
	var (
		mu  sync.Mutex
		now = time.Now()
	)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	sim := startSim(t, ghsim.Config{Now: clock, Releases: []string{"v0.1.0"}})
	token := installationToken(t, sim)
	key, err := jwt.ParseRSAPrivateKeyFromPEM(sim.PrivateKeyPEM())
	require.NoError(t, err)
	appJWT := signJWT(t, key, jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": strconv.FormatInt(sim.AppID(), 10), "iat": now.Add(-time.Second).Unix(), "exp": now.Add(time.Minute).Unix(),
	})
	url := apiURL(sim) + "/repos/riptides/driver/releases/tags/v0.1.0"

	tests := map[string]struct {
		auth string
		want int
	}{
		"token scheme":    {"token " + token, http.StatusOK},
		"bearer scheme":   {"Bearer " + token, http.StatusOK},
		"unknown token":   {"token ghs_000000000000000000000000000000000000", http.StatusUnauthorized},
		"app JWT":         {"Bearer " + appJWT, http.StatusUnauthorized},
		"none":            {"", http.StatusUnauthorized},
		"basic":           {"Basic " + token, http.StatusUnauthorized},
		"empty bearer":    {"Bearer ", http.StatusUnauthorized},
		"other repo 404s": {"token " + token, http.StatusNotFound},
	}
	t.Run("schemes", func(t *testing.T) {
		for name, tc := range tests {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				u := url
				if name == "other repo 404s" {
					u = apiURL(sim) + "/repos/riptides/other/releases/tags/v0.1.0"
				}
				resp, body := call(t, http.MethodGet, u, tc.auth, nil)
				require.Equal(t, tc.want, resp.StatusCode, string(body))
			})
		}
	})

	t.Run("expired token", func(t *testing.T) {
		// After the group above: it moves the clock past the token's hour.
		mu.Lock()
		now = now.Add(time.Hour + time.Second)
		mu.Unlock()
		resp, body := call(t, http.MethodGet, url, "token "+token, nil)
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, string(body))
		require.JSONEq(t, `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`, string(body))
	})
}
