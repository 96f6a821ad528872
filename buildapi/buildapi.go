// Package buildapi is the wire contract of the build-service's REST API:
// the JSON its handlers write and the driver-loader's client reads. The
// request body is kernel.Request.
package buildapi

import "time"

// Build states and failure reasons.
const (
	StatusQueued     = "queued"
	StatusInProgress = "in_progress"
	StatusDone       = "done"
	StatusError      = "error"
)

// Build is GET /status/{id}, and the answer to POST /build for a key that
// failed recently (with Message). Its fields are a superset of Accepted's
// and Done's, so a client can read every 2xx answer into it.
type Build struct {
	BuildID     string    `json:"build_id"`
	Status      string    `json:"status"`
	Reason      string    `json:"reason"`
	Package     string    `json:"package"`
	DownloadURL string    `json:"download_url"`
	SHA256      string    `json:"sha256"`
	RunURL      string    `json:"run_url"`
	Progress    string    `json:"progress"`
	Message     string    `json:"message,omitempty"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
	// KernelsJSON, for a done build, says where its kernel is on its way
	// into kernels.json.
	KernelsJSON *KernelsJSON `json:"kernels_json,omitempty"`
}

// KernelsJSON is a done build's kernels.json state: pending, pr_open,
// merged, already_listed or checks_failed, with its pull request.
type KernelsJSON struct {
	State string `json:"state"`
	PRURL string `json:"pr_url"`
}

// Finished reports whether the build will not change any more.
func (b Build) Finished() bool { return b.Status == StatusDone || b.Status == StatusError }

// Accepted is the 202 answer to POST /build: a build was queued, or one
// for the same key is already under way (Deduplicated).
type Accepted struct {
	Message      string `json:"message"`
	BuildID      string `json:"build_id"`
	Status       string `json:"status"`
	Deduplicated bool   `json:"deduplicated,omitempty"`
}

// Done is the 200 answer to POST /build when the package exists.
type Done struct {
	Status      string `json:"status"`
	Package     string `json:"package"`
	DownloadURL string `json:"download_url"`
	SHA256      string `json:"sha256,omitempty"`
}

// Error is every 4xx and 5xx answer; Field names the request field at fault.
type Error struct {
	Error string `json:"error"`
	Field string `json:"field,omitempty"`
}

// Mismatch is the 409 answer when the package exists but was built for
// another distro version.
type Mismatch struct {
	Error
	Package  string `json:"package"`
	BuiltFor string `json:"built_for"`
}

// Builds is GET /api/builds: a page of builds, newest first. NextCursor,
// absent on the last page, asks for the next one (?cursor=).
type Builds struct {
	Builds     []Build `json:"builds"`
	NextCursor string  `json:"next_cursor,omitempty"`
}

// Events is GET /api/builds/{id}/events: the build's timeline, oldest
// first.
type Events struct {
	Events []Event `json:"events"`
}

// Event is one status change of a build: From is "" for its creation;
// Source says who moved it (api, webhook, poller, sweeper).
type Event struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	Source string    `json:"source"`
	Detail string    `json:"detail"`
	RunURL string    `json:"run_url"`
	At     time.Time `json:"at"`
}

// Requests is GET /api/requests: a page of POST /build requests, newest
// first.
type Requests struct {
	Requests   []Request `json:"requests"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// Request is one POST /build as received, and how it was answered.
type Request struct {
	ReceivedAt    time.Time `json:"received_at"`
	Client        string    `json:"client"`
	KernelVersion string    `json:"kernel_version"`
	Architecture  string    `json:"architecture"`
	Distribution  string    `json:"distribution"`
	DistroVersion string    `json:"distro_version"`
	DriverVersion string    `json:"driver_version"`
	Outcome       string    `json:"outcome"`
	HTTPStatus    int       `json:"http_status"`
	BuildID       string    `json:"build_id"`
	Field         string    `json:"field"`
	Error         string    `json:"error"`
}

// Deliveries is GET /api/deliveries: a page of the webhook deliveries the
// service applied, newest first.
type Deliveries struct {
	Deliveries []Delivery `json:"deliveries"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// Delivery is one webhook delivery, applied when it was received.
type Delivery struct {
	DeliveryID string    `json:"delivery_id"`
	Event      string    `json:"event"`
	Action     string    `json:"action"`
	ReceivedAt time.Time `json:"received_at"`
}
