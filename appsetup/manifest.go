// Package appsetup creates the build-service's GitHub App through GitHub's
// App manifest flow and writes its credentials into config.yml.
package appsetup

import (
	"maps"

	"github.com/palantir/go-githubapp/githubapp"

	"github.com/riptides/driverbuild/handlers"
)

// Permissions are what the App asks of a repository it is installed on:
// dispatch and read workflow runs, publish releases and propose
// kernels.json changes, open and merge pull requests, read checks and
// commit statuses, and read the default branch's protection (GitHub asks
// Administration of that) to know which checks a merge waits for.
var Permissions = map[string]string{
	"actions":        "write",
	"contents":       "write",
	"pull_requests":  "write",
	"checks":         "read",
	"statuses":       "read",
	"administration": "read",
	"metadata":       "read",
}

// Manifest is GitHub's App manifest.
type Manifest struct {
	Name               string            `json:"name,omitempty"`
	URL                string            `json:"url"`
	Description        string            `json:"description,omitempty"`
	HookAttributes     HookAttributes    `json:"hook_attributes"`
	RedirectURL        string            `json:"redirect_url"`
	Public             bool              `json:"public"`
	DefaultPermissions map[string]string `json:"default_permissions"`
	DefaultEvents      []string          `json:"default_events"`
}

// HookAttributes say where the App's webhooks go.
type HookAttributes struct {
	URL    string `json:"url"`
	Active bool   `json:"active"`
}

// NewManifest describes the App of a build-service reached at serviceURL;
// GitHub sends the person back to redirectURL with the code.
func NewManifest(name, serviceURL, redirectURL string) Manifest {
	return Manifest{
		Name:               name,
		URL:                serviceURL,
		Description:        "Builds kernel drivers on demand for driver-loaders (driverbuild build-service).",
		HookAttributes:     HookAttributes{URL: serviceURL + githubapp.DefaultWebhookRoute, Active: true},
		RedirectURL:        redirectURL,
		DefaultPermissions: maps.Clone(Permissions),
		DefaultEvents:      handlers.Events(), // the App hears what the service handles
	}
}
