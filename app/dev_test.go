package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/app"
	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

// -dev shows the whole loop: the banner's commands build a kernel, and
// the simulated repository's API shows its pull request merged.
func TestDevShowsTheLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(zerolog.Nop().WithContext(context.Background()))
	out := &transcript{}
	done := make(chan error, 1)
	go func() { done <- app.RunDev(ctx, "127.0.0.1:0", 300*time.Millisecond, out) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	var banner string
	require.Eventually(t, func() bool { banner = out.String(); return strings.Contains(banner, "_sim/stats") }, 30*time.Second, 20*time.Millisecond)
	find := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(banner)
		require.NotNil(t, m, "%s in %s", re, banner)
		return m[1]
	}
	svc := find(`-X POST (\S+)/build`)
	body := find(`-d '(\{.*\})'`)
	pulls := find(`curl -s '(\S+/pulls\?state=all)'`)
	token := find(`Authorization: Bearer (\S+)'`)
	raw := find(`curl -s (\S+/raw/main/\.github/kernels\.json)`)

	var accepted struct {
		BuildID string `json:"build_id"`
	}
	require.Eventually(t, func() bool {
		resp, err := http.Post(svc+"/build", "application/json", strings.NewReader(body))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return resp.StatusCode == http.StatusAccepted && json.NewDecoder(resp.Body).Decode(&accepted) == nil
	}, 30*time.Second, 100*time.Millisecond)
	var st status
	require.Eventually(t, func() bool {
		resp, err := http.Get(svc + "/status/" + accepted.BuildID)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		st = status{}
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.KernelsJSON != nil && st.KernelsJSON.State == "merged"
	}, 60*time.Second, 50*time.Millisecond, "last status %+v", st)

	req, err := http.NewRequest(http.MethodGet, pulls, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var prs []struct {
		HTMLURL string `json:"html_url"`
		Merged  bool   `json:"merged"`
		Head    struct {
			Ref string `json:"ref"`
		} `json:"head"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&prs))
	require.Len(t, prs, 1)
	require.True(t, prs[0].Merged)
	require.Equal(t, st.KernelsJSON.PRURL, prs[0].HTMLURL)
	require.Equal(t, "add-kernel/ubuntu/x86_64/6-8-0-1053-gcp", prs[0].Head.Ref)

	fileResp, err := http.Get(raw)
	require.NoError(t, err)
	defer fileResp.Body.Close()
	var file bytes.Buffer
	_, err = file.ReadFrom(fileResp.Body)
	require.NoError(t, err)
	k, err := matrix.ParseKernels(file.Bytes())
	require.NoError(t, err)
	require.True(t, k.Lists(kernel.DefaultCatalog(), kernel.Request{KernelVersion: "6.8.0-1053-gcp", Architecture: "x86_64", Distribution: "ubuntu", DistroVersion: "24.04"}))
}
