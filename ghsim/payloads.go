package ghsim

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The JSON objects below mirror GitHub's field for field, nulls included,
// so that REST responses and webhook bodies have the shape of the real ones
// (go-github's types drop empty fields, which real payloads keep).

// Fixed ids of the simulated world's accounts.
const (
	ownerAccountID = 49000001
	repositoryID   = 600000001
	botAccountIDs  = 180000000 // plus the app id
)

type userJSON struct {
	Login             string `json:"login"`
	ID                int64  `json:"id"`
	NodeID            string `json:"node_id"`
	AvatarURL         string `json:"avatar_url"`
	GravatarID        string `json:"gravatar_id"`
	URL               string `json:"url"`
	HTMLURL           string `json:"html_url"`
	FollowersURL      string `json:"followers_url"`
	FollowingURL      string `json:"following_url"`
	GistsURL          string `json:"gists_url"`
	StarredURL        string `json:"starred_url"`
	SubscriptionsURL  string `json:"subscriptions_url"`
	OrganizationsURL  string `json:"organizations_url"`
	ReposURL          string `json:"repos_url"`
	EventsURL         string `json:"events_url"`
	ReceivedEventsURL string `json:"received_events_url"`
	Type              string `json:"type"`
	SiteAdmin         bool   `json:"site_admin"`
}

type orgJSON struct {
	Login            string `json:"login"`
	ID               int64  `json:"id"`
	NodeID           string `json:"node_id"`
	URL              string `json:"url"`
	ReposURL         string `json:"repos_url"`
	EventsURL        string `json:"events_url"`
	HooksURL         string `json:"hooks_url"`
	IssuesURL        string `json:"issues_url"`
	MembersURL       string `json:"members_url"`
	PublicMembersURL string `json:"public_members_url"`
	AvatarURL        string `json:"avatar_url"`
	Description      string `json:"description"`
}

// minimalRepoJSON is the repository GitHub embeds in workflow runs.
type minimalRepoJSON struct {
	ID               int64    `json:"id"`
	NodeID           string   `json:"node_id"`
	Name             string   `json:"name"`
	FullName         string   `json:"full_name"`
	Private          bool     `json:"private"`
	Owner            userJSON `json:"owner"`
	HTMLURL          string   `json:"html_url"`
	Description      string   `json:"description"`
	Fork             bool     `json:"fork"`
	URL              string   `json:"url"`
	ForksURL         string   `json:"forks_url"`
	KeysURL          string   `json:"keys_url"`
	CollaboratorsURL string   `json:"collaborators_url"`
	TeamsURL         string   `json:"teams_url"`
	HooksURL         string   `json:"hooks_url"`
	IssueEventsURL   string   `json:"issue_events_url"`
	EventsURL        string   `json:"events_url"`
	AssigneesURL     string   `json:"assignees_url"`
	BranchesURL      string   `json:"branches_url"`
	TagsURL          string   `json:"tags_url"`
	BlobsURL         string   `json:"blobs_url"`
	GitTagsURL       string   `json:"git_tags_url"`
	GitRefsURL       string   `json:"git_refs_url"`
	TreesURL         string   `json:"trees_url"`
	StatusesURL      string   `json:"statuses_url"`
	LanguagesURL     string   `json:"languages_url"`
	StargazersURL    string   `json:"stargazers_url"`
	ContributorsURL  string   `json:"contributors_url"`
	SubscribersURL   string   `json:"subscribers_url"`
	SubscriptionURL  string   `json:"subscription_url"`
	CommitsURL       string   `json:"commits_url"`
	GitCommitsURL    string   `json:"git_commits_url"`
	CommentsURL      string   `json:"comments_url"`
	IssueCommentURL  string   `json:"issue_comment_url"`
	ContentsURL      string   `json:"contents_url"`
	CompareURL       string   `json:"compare_url"`
	MergesURL        string   `json:"merges_url"`
	ArchiveURL       string   `json:"archive_url"`
	DownloadsURL     string   `json:"downloads_url"`
	IssuesURL        string   `json:"issues_url"`
	PullsURL         string   `json:"pulls_url"`
	MilestonesURL    string   `json:"milestones_url"`
	NotificationsURL string   `json:"notifications_url"`
	LabelsURL        string   `json:"labels_url"`
	ReleasesURL      string   `json:"releases_url"`
	DeploymentsURL   string   `json:"deployments_url"`
}

type licenseJSON struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	SpdxID string `json:"spdx_id"`
	URL    string `json:"url"`
	NodeID string `json:"node_id"`
}

// repoJSON is the full repository of webhook bodies.
type repoJSON struct {
	minimalRepoJSON
	CreatedAt                timestamp      `json:"created_at"`
	UpdatedAt                timestamp      `json:"updated_at"`
	PushedAt                 timestamp      `json:"pushed_at"`
	GitURL                   string         `json:"git_url"`
	SSHURL                   string         `json:"ssh_url"`
	CloneURL                 string         `json:"clone_url"`
	SvnURL                   string         `json:"svn_url"`
	Homepage                 optString      `json:"homepage"`
	Size                     int            `json:"size"`
	StargazersCount          int            `json:"stargazers_count"`
	WatchersCount            int            `json:"watchers_count"`
	Language                 string         `json:"language"`
	HasIssues                bool           `json:"has_issues"`
	HasProjects              bool           `json:"has_projects"`
	HasDownloads             bool           `json:"has_downloads"`
	HasWiki                  bool           `json:"has_wiki"`
	HasPages                 bool           `json:"has_pages"`
	HasDiscussions           bool           `json:"has_discussions"`
	ForksCount               int            `json:"forks_count"`
	MirrorURL                optString      `json:"mirror_url"`
	Archived                 bool           `json:"archived"`
	Disabled                 bool           `json:"disabled"`
	OpenIssuesCount          int            `json:"open_issues_count"`
	License                  licenseJSON    `json:"license"`
	AllowForking             bool           `json:"allow_forking"`
	IsTemplate               bool           `json:"is_template"`
	WebCommitSignoffRequired bool           `json:"web_commit_signoff_required"`
	Topics                   []string       `json:"topics"`
	Visibility               string         `json:"visibility"`
	Forks                    int            `json:"forks"`
	OpenIssues               int            `json:"open_issues"`
	Watchers                 int            `json:"watchers"`
	DefaultBranch            string         `json:"default_branch"`
	CustomProperties         map[string]any `json:"custom_properties"`
}

type installationRefJSON struct {
	ID     int64  `json:"id"`
	NodeID string `json:"node_id"`
}

type workflowJSON struct {
	ID        int64     `json:"id"`
	NodeID    string    `json:"node_id"`
	Name      string    `json:"name"`
	Path      string    `json:"path"`
	State     string    `json:"state"`
	CreatedAt timestamp `json:"created_at"`
	UpdatedAt timestamp `json:"updated_at"`
	URL       string    `json:"url"`
	HTMLURL   string    `json:"html_url"`
	BadgeURL  string    `json:"badge_url"`
}

type gitUserJSON struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type commitJSON struct {
	ID        string      `json:"id"`
	TreeID    string      `json:"tree_id"`
	Message   string      `json:"message"`
	Timestamp timestamp   `json:"timestamp"`
	Author    gitUserJSON `json:"author"`
	Committer gitUserJSON `json:"committer"`
}

type runJSON struct {
	ID                  int64           `json:"id"`
	Name                string          `json:"name"`
	NodeID              string          `json:"node_id"`
	HeadBranch          string          `json:"head_branch"`
	HeadSHA             string          `json:"head_sha"`
	Path                string          `json:"path"`
	DisplayTitle        string          `json:"display_title"`
	RunNumber           int64           `json:"run_number"`
	Event               string          `json:"event"`
	Status              string          `json:"status"`
	Conclusion          optString       `json:"conclusion"`
	WorkflowID          int64           `json:"workflow_id"`
	CheckSuiteID        int64           `json:"check_suite_id"`
	CheckSuiteNodeID    string          `json:"check_suite_node_id"`
	URL                 string          `json:"url"`
	HTMLURL             string          `json:"html_url"`
	PullRequests        []any           `json:"pull_requests"`
	CreatedAt           timestamp       `json:"created_at"`
	UpdatedAt           timestamp       `json:"updated_at"`
	Actor               userJSON        `json:"actor"`
	TriggeringActor     userJSON        `json:"triggering_actor"`
	RunAttempt          int             `json:"run_attempt"`
	ReferencedWorkflows []any           `json:"referenced_workflows"`
	RunStartedAt        timestamp       `json:"run_started_at"`
	JobsURL             string          `json:"jobs_url"`
	LogsURL             string          `json:"logs_url"`
	CheckSuiteURL       string          `json:"check_suite_url"`
	ArtifactsURL        string          `json:"artifacts_url"`
	CancelURL           string          `json:"cancel_url"`
	RerunURL            string          `json:"rerun_url"`
	PreviousAttemptURL  optString       `json:"previous_attempt_url"`
	WorkflowURL         string          `json:"workflow_url"`
	HeadCommit          commitJSON      `json:"head_commit"`
	Repository          minimalRepoJSON `json:"repository"`
	HeadRepository      minimalRepoJSON `json:"head_repository"`
}

type stepJSON struct {
	Name        string    `json:"name"`
	Status      string    `json:"status"`
	Conclusion  optString `json:"conclusion"`
	Number      int       `json:"number"`
	StartedAt   timestamp `json:"started_at"`
	CompletedAt timestamp `json:"completed_at"`
}

type jobJSON struct {
	ID              int64      `json:"id"`
	RunID           int64      `json:"run_id"`
	WorkflowName    string     `json:"workflow_name"`
	HeadBranch      string     `json:"head_branch"`
	RunURL          string     `json:"run_url"`
	RunAttempt      int        `json:"run_attempt"`
	NodeID          string     `json:"node_id"`
	HeadSHA         string     `json:"head_sha"`
	URL             string     `json:"url"`
	HTMLURL         string     `json:"html_url"`
	Status          string     `json:"status"`
	Conclusion      optString  `json:"conclusion"`
	CreatedAt       timestamp  `json:"created_at"`
	StartedAt       timestamp  `json:"started_at"`
	CompletedAt     timestamp  `json:"completed_at"`
	Name            string     `json:"name"`
	Steps           []stepJSON `json:"steps"`
	CheckRunURL     string     `json:"check_run_url"`
	Labels          []string   `json:"labels"`
	RunnerID        int64      `json:"runner_id"`
	RunnerName      string     `json:"runner_name"`
	RunnerGroupID   int64      `json:"runner_group_id"`
	RunnerGroupName string     `json:"runner_group_name"`
}

type assetJSON struct {
	URL                string    `json:"url"`
	ID                 int64     `json:"id"`
	NodeID             string    `json:"node_id"`
	Name               string    `json:"name"`
	Label              string    `json:"label"`
	Uploader           userJSON  `json:"uploader"`
	ContentType        string    `json:"content_type"`
	State              string    `json:"state"`
	Size               int       `json:"size"`
	Digest             string    `json:"digest"`
	DownloadCount      int       `json:"download_count"`
	CreatedAt          timestamp `json:"created_at"`
	UpdatedAt          timestamp `json:"updated_at"`
	BrowserDownloadURL string    `json:"browser_download_url"`
}

type releaseJSON struct {
	URL             string      `json:"url"`
	AssetsURL       string      `json:"assets_url"`
	UploadURL       string      `json:"upload_url"`
	HTMLURL         string      `json:"html_url"`
	ID              int64       `json:"id"`
	Author          userJSON    `json:"author"`
	NodeID          string      `json:"node_id"`
	TagName         string      `json:"tag_name"`
	TargetCommitish string      `json:"target_commitish"`
	Name            string      `json:"name"`
	Draft           bool        `json:"draft"`
	Prerelease      bool        `json:"prerelease"`
	CreatedAt       timestamp   `json:"created_at"`
	PublishedAt     timestamp   `json:"published_at"`
	Assets          []assetJSON `json:"assets"`
	TarballURL      string      `json:"tarball_url"`
	ZipballURL      string      `json:"zipball_url"`
	Body            string      `json:"body"`
}

// nodeID makes a GraphQL-style global id.
func nodeID(kind string, id int64) string {
	return base64.StdEncoding.EncodeToString(fmt.Appendf(nil, "%02d:%s%d", len(kind), kind, id))
}

// urls builds the simulator's absolute URLs, given its base URL.
type urls struct {
	web, api, uploads string
	owner, repo       string
}

func newURLs(base, owner, repo string) urls {
	base = strings.TrimSuffix(base, "/")
	return urls{web: base, api: base + "/api/v3", uploads: base + "/api/uploads", owner: owner, repo: repo}
}

func (u urls) repoAPI() string  { return u.api + "/repos/" + u.owner + "/" + u.repo }
func (u urls) repoHTML() string { return u.web + "/" + u.owner + "/" + u.repo }

func (u urls) host() string {
	parsed, err := url.Parse(u.web)
	if err != nil {
		return "localhost"
	}
	return parsed.Host
}

func (u urls) user(login string, id int64, typ string) userJSON {
	api := u.api + "/users/" + url.PathEscape(login)
	return userJSON{
		Login:             login,
		ID:                id,
		NodeID:            nodeID(typ, id),
		AvatarURL:         fmt.Sprintf("%s/avatars/u/%d?v=4", u.web, id),
		URL:               api,
		HTMLURL:           u.web + "/" + login,
		FollowersURL:      api + "/followers",
		FollowingURL:      api + "/following{/other_user}",
		GistsURL:          api + "/gists{/gist_id}",
		StarredURL:        api + "/starred{/owner}{/repo}",
		SubscriptionsURL:  api + "/subscriptions",
		OrganizationsURL:  api + "/orgs",
		ReposURL:          api + "/repos",
		EventsURL:         api + "/events{/privacy}",
		ReceivedEventsURL: api + "/received_events",
		Type:              typ,
	}
}

func (u urls) ownerUser() userJSON { return u.user(u.owner, ownerAccountID, "Organization") }

func (u urls) org() orgJSON {
	api := u.api + "/orgs/" + u.owner
	return orgJSON{
		Login:            u.owner,
		ID:               ownerAccountID,
		NodeID:           nodeID("Organization", ownerAccountID),
		URL:              api,
		ReposURL:         api + "/repos",
		EventsURL:        api + "/events",
		HooksURL:         api + "/hooks",
		IssuesURL:        api + "/issues",
		MembersURL:       api + "/members{/member}",
		PublicMembersURL: api + "/public_members{/member}",
		AvatarURL:        fmt.Sprintf("%s/avatars/u/%d?v=4", u.web, ownerAccountID),
		Description:      "",
	}
}

func (u urls) minimalRepo() minimalRepoJSON {
	api := u.repoAPI()
	return minimalRepoJSON{
		ID:               repositoryID,
		NodeID:           nodeID("Repository", repositoryID),
		Name:             u.repo,
		FullName:         u.owner + "/" + u.repo,
		Owner:            u.ownerUser(),
		HTMLURL:          u.repoHTML(),
		Description:      "Kernel driver packages built on demand",
		URL:              api,
		ForksURL:         api + "/forks",
		KeysURL:          api + "/keys{/key_id}",
		CollaboratorsURL: api + "/collaborators{/collaborator}",
		TeamsURL:         api + "/teams",
		HooksURL:         api + "/hooks",
		IssueEventsURL:   api + "/issues/events{/number}",
		EventsURL:        api + "/events",
		AssigneesURL:     api + "/assignees{/user}",
		BranchesURL:      api + "/branches{/branch}",
		TagsURL:          api + "/tags",
		BlobsURL:         api + "/git/blobs{/sha}",
		GitTagsURL:       api + "/git/tags{/sha}",
		GitRefsURL:       api + "/git/refs{/sha}",
		TreesURL:         api + "/git/trees{/sha}",
		StatusesURL:      api + "/statuses/{sha}",
		LanguagesURL:     api + "/languages",
		StargazersURL:    api + "/stargazers",
		ContributorsURL:  api + "/contributors",
		SubscribersURL:   api + "/subscribers",
		SubscriptionURL:  api + "/subscription",
		CommitsURL:       api + "/commits{/sha}",
		GitCommitsURL:    api + "/git/commits{/sha}",
		CommentsURL:      api + "/comments{/number}",
		IssueCommentURL:  api + "/issues/comments{/number}",
		ContentsURL:      api + "/contents/{+path}",
		CompareURL:       api + "/compare/{base}...{head}",
		MergesURL:        api + "/merges",
		ArchiveURL:       api + "/{archive_format}{/ref}",
		DownloadsURL:     api + "/downloads",
		IssuesURL:        api + "/issues{/number}",
		PullsURL:         api + "/pulls{/number}",
		MilestonesURL:    api + "/milestones{/number}",
		NotificationsURL: api + "/notifications{?since,all,participating}",
		LabelsURL:        api + "/labels{/name}",
		ReleasesURL:      api + "/releases{/id}",
		DeploymentsURL:   api + "/deployments",
	}
}

func (u urls) fullRepo(created time.Time) repoJSON {
	host := u.host()
	return repoJSON{
		minimalRepoJSON:  u.minimalRepo(),
		CreatedAt:        timestamp(created),
		UpdatedAt:        timestamp(created),
		PushedAt:         timestamp(created),
		GitURL:           "git://" + host + "/" + u.owner + "/" + u.repo + ".git",
		SSHURL:           "git@" + host + ":" + u.owner + "/" + u.repo + ".git",
		CloneURL:         u.repoHTML() + ".git",
		SvnURL:           u.repoHTML(),
		Language:         "C",
		HasIssues:        true,
		HasDownloads:     true,
		License:          licenseJSON{Key: "gpl-2.0", Name: "GNU General Public License v2.0", SpdxID: "GPL-2.0", URL: u.api + "/licenses/gpl-2.0", NodeID: "MDc6TGljZW5zZTg="},
		AllowForking:     true,
		Topics:           []string{},
		Visibility:       "public",
		DefaultBranch:    defaultBranch,
		CustomProperties: map[string]any{},
	}
}
