package ghsim_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"testing"

	"github.com/google/go-github/v66/github"
	"github.com/stretchr/testify/require"

	"github.com/riptides/driverbuild/ghsim"
)

// BenchmarkContentsPut measures one commit through the contents API, each
// on top of the last, as the App writes kernels.json.
func BenchmarkContentsPut(b *testing.B) {
	sim := startSim(b, ghsim.Config{RateLimit: 1 << 30})
	gh := installationClient(b, sim)
	token := "token " + installationToken(b, sim)
	file, _, _, err := gh.Repositories.GetContents(context.Background(), "riptides", "driver", ".github/kernels.json", nil)
	require.NoError(b, err)
	sha := file.GetSHA()
	url := apiURL(sim) + "/repos/riptides/driver/contents/.github/kernels.json"
	b.ResetTimer()
	for i := range b.N {
		content := fmt.Appendf(nil, "{\"n\": %d}\n", i)
		resp, body := call(b, http.MethodPut, url, token, map[string]any{
			"message": "bench", "content": base64.StdEncoding.EncodeToString(content), "sha": sha,
		})
		require.Equal(b, http.StatusOK, resp.StatusCode, string(body))
		sha = gitBlobSHA(content)
	}
}

// BenchmarkUploadAsset measures one asset upload of 1 KiB.
func BenchmarkUploadAsset(b *testing.B) {
	sim := startSim(b, ghsim.Config{Releases: []string{"v0.1.2"}, RateLimit: 1 << 30})
	rel, _, err := installationClient(b, sim).Repositories.GetReleaseByTag(context.Background(), "riptides", "driver", "v0.1.2")
	require.NoError(b, err)
	token := installationToken(b, sim)
	client := &http.Client{}
	ids := []int64{rel.GetID()}
	b.ResetTimer()
	for i := range b.N {
		if i%900 == 899 { // stay under the cap
			created, _, err := installationClient(b, sim).Repositories.CreateRelease(context.Background(), "riptides", "driver",
				&github.RepositoryRelease{TagName: github.String(fmt.Sprintf("v9.0.%d", i))})
			require.NoError(b, err)
			ids = append(ids, created.GetID())
		}
		status, body := uploadBody(b, client, sim, token, ids[len(ids)-1], fmt.Sprintf("pkg-%d.deb", i))
		require.Equal(b, http.StatusCreated, status, string(body))
	}
}
