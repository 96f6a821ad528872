package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/palantir/go-githubapp/githubapp"
	"github.com/rs/zerolog"

	"github.com/riptides/driverbuild/builds"
	"github.com/riptides/driverbuild/ghclient"
	"github.com/riptides/driverbuild/lifecycle"
)

// Observer applies what webhooks say.
type Observer interface {
	ObserveRun(ctx context.Context, src lifecycle.Source, d *builds.Delivery, run ghclient.Run) error
	ObserveJob(ctx context.Context, d *builds.Delivery, runID int64, progress string) error
	ObserveRelease(ctx context.Context, d *builds.Delivery, e builds.ReleaseEvent) error
}

// Lister applies what webhooks say about kernels.json's branches and
// pull requests.
type Lister interface {
	ObservePush(ctx context.Context, d *builds.Delivery, branch, sha string, deleted bool) error
	ObservePull(ctx context.Context, d *builds.Delivery, action string, pr ghclient.PullRequest) error
	ObserveCheck(ctx context.Context, d *builds.Delivery, branch, sha, check string) error
}

// Base is shared by the webhook handlers.
type Base struct {
	Observer Observer
	Lister   Lister
	// Repo is "owner/name": events about other repositories are ignored.
	Repo string
}

// accepts reports whether an event is one to act on: one of the actions
// handled, about our repository. It says at debug level why not.
func (b Base) accepts(ctx context.Context, event, action, repo string, actions ...string) bool {
	log := zerolog.Ctx(ctx)
	switch {
	case !slices.Contains(actions, action):
		log.Debug().Str("action", action).Msgf("ignoring %s action", event)
		return false
	case !strings.EqualFold(repo, b.Repo):
		log.Debug().Str("repo", repo).Msgf("ignoring %s of another repository", event)
		return false
	}
	return true
}

// MaxWebhookBytes is GitHub's cap on a webhook payload: a larger body is
// not from GitHub, and is refused before it is read.
const MaxWebhookBytes = 25 << 20

// maxUnverifiedReads bounds the bodies read at once before their
// signature is known, and with it what senders without the secret can
// make the service hold: this many times MaxWebhookBytes.
const maxUnverifiedReads = 4

// refusalLogEvery is how often a refused webhook request may be logged;
// driverbuild_webhook_refused_total counts them all.
const refusalLogEvery = 10 * time.Second

// ErrMalformedPayload marks a signed payload that does not parse as its
// event: it can never be applied, so it is answered 400 and recorded as
// delivered, and redelivery does not ask GitHub for it again.
var ErrMalformedPayload = errors.New("malformed payload")

// decodePayload parses a payload as the event it says it is.
func decodePayload(eventType string, payload []byte, v any) error {
	if err := json.Unmarshal(payload, v); err != nil {
		return fmt.Errorf("%w: parse %s payload: %v", ErrMalformedPayload, eventType, err)
	}
	return nil
}

// DeliveryRecorder records a delivery id as delivered.
type DeliveryRecorder interface {
	DeliveryRecord(ctx context.Context, deliveryID, event, action string, at time.Time) (isNew bool, err error)
}

// WebhookEndpoint serves POST /api/github/hook. Anyone on the internet can
// reach it, so it refuses what GitHub would not send before reading more
// than it must: a body over MaxWebhookBytes, a request without an
// HMAC-SHA256 signature (SHA-1 is not accepted), headers that are not an
// event name and a UUID. Its body is read, bounded, only to check the
// signature. Nothing about a refused request is kept but a counter by
// reason and a rate-limited log line; what passes is go-githubapp's to
// dispatch to the Webhooks of Base.
type WebhookEndpoint struct {
	// Secret the App signs with; empty (-dev only) accepts unsigned bodies.
	Secret     string
	Base       Base
	Deliveries DeliveryRecorder
	Metrics    *Metrics
	Now        func() time.Time // nil: time.Now
	// ReadTimeout bounds the wait for a read slot and the read of the
	// body, from when the handler starts (the headers are in by then,
	// within the server's ReadHeaderTimeout); 0 is GitHub's own delivery
	// timeout, 10 seconds, past which no delivery of GitHub's still waits.
	ReadTimeout time.Duration
}

// githubDeliveryTimeout is how long GitHub waits for a webhook's answer.
const githubDeliveryTimeout = 10 * time.Second

var (
	eventNameRe  = regexp.MustCompile(`^[a-z_]{1,64}$`)
	deliveryIDRe = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	signatureRe  = regexp.MustCompile(`^sha256=[0-9a-f]{64}$`)
)

// Handler is the endpoint, with its own bound on concurrent reads and its
// own log rate limit.
func (e *WebhookEndpoint) Handler() http.Handler {
	now := e.Now
	if now == nil {
		now = time.Now
	}
	s := &webhookServer{
		WebhookEndpoint: e, now: now,
		reads: make(chan struct{}, maxUnverifiedReads),
		known: map[string]bool{},
	}
	for _, event := range Events() {
		s.known[event] = true
	}
	s.dispatch = githubapp.NewEventDispatcher(Webhooks(e.Base), e.Secret, githubapp.WithErrorCallback(s.onError))
	return s
}

type webhookServer struct {
	*WebhookEndpoint
	now      func() time.Time
	dispatch http.Handler
	reads    chan struct{}
	known    map[string]bool // the metric's event labels, but other

	mu         sync.Mutex
	nextLog    time.Time
	suppressed int
}

func (s *webhookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "webhooks are POSTed", http.StatusMethodNotAllowed)
		return
	}
	event, delivery := r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery")
	signature := r.Header.Get("X-Hub-Signature-256")
	switch {
	case r.ContentLength > MaxWebhookBytes:
		s.refuse(w, r, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than GitHub's 25 MB cap")
		return
	case s.Secret != "" && !signatureRe.MatchString(signature):
		s.refuse(w, r, http.StatusBadRequest, "unsigned", "X-Hub-Signature-256 must be sha256= and the HMAC-SHA256 of the body in hex; X-Hub-Signature (SHA-1) is not accepted")
		return
	case !eventNameRe.MatchString(event):
		s.refuse(w, r, http.StatusBadRequest, "bad_header", "X-GitHub-Event must be an event name: 1 to 64 of a-z and _")
		return
	case !deliveryIDRe.MatchString(delivery):
		s.refuse(w, r, http.StatusBadRequest, "bad_header", "X-GitHub-Delivery must be a UUID")
		return
	}

	// A sender trickling its body must not hold a read slot for the
	// server's whole read timeout: four of them would shut GitHub out.
	timeout := s.ReadTimeout
	if timeout <= 0 {
		timeout = githubDeliveryTimeout
	}
	deadline := time.Now().Add(timeout)
	_ = http.NewResponseController(w).SetReadDeadline(deadline)
	wait := time.NewTimer(time.Until(deadline))
	defer wait.Stop()
	select {
	case s.reads <- struct{}{}:
	case <-wait.C:
		s.refuse(w, r, http.StatusServiceUnavailable, "busy", "too many webhook bodies are being read; GitHub redelivers what failed")
		return
	case <-r.Context().Done():
		return
	}
	body, err := s.read(r, signature)
	<-s.reads
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		s.refuse(w, r, http.StatusRequestEntityTooLarge, "too_large", "the body is larger than GitHub's 25 MB cap")
		return
	case errors.Is(err, errSignature):
		s.refuse(w, r, http.StatusBadRequest, "bad_signature", "X-Hub-Signature-256 is not the body's signature with the App's webhook secret")
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		s.refuse(w, r, http.StatusRequestTimeout, "slow", "the body was not sent within "+timeout.String())
		return
	case err != nil:
		s.refuse(w, r, http.StatusBadRequest, "unreadable", "the body could not be read")
		return
	}

	label := event
	if !s.known[label] {
		label = "other" // signed, but the name is still the sender's
	}
	start := s.now()
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.dispatch.ServeHTTP(sw, r)
	s.Metrics.webhooks.WithLabelValues(label, strconv.Itoa(sw.code)).Inc()
	zerolog.Ctx(r.Context()).Info().Str("event", event).Str("delivery_id", delivery).Int("status", sw.code).
		Dur("duration", s.now().Sub(start)).Msg("webhook")
}

var errSignature = errors.New("signature mismatch")

// read reads the body, at most MaxWebhookBytes, and checks its signature.
// It hashes as it reads, into pieces of a fixed size rather than a buffer
// that doubles and copies as it grows: a sender without the secret can
// make it hold no more than the bytes it sent.
func (s *webhookServer) read(r *http.Request, signature string) ([]byte, error) {
	var pieces [][]byte
	mac := hmac.New(sha256.New, []byte(s.Secret))
	body := http.MaxBytesReader(nil, r.Body, MaxWebhookBytes)
	for {
		piece := make([]byte, 64<<10)
		n, err := io.ReadFull(body, piece)
		if n > 0 {
			mac.Write(piece[:n])
			pieces = append(pieces, piece[:n])
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if s.Secret != "" {
		want, _ := hex.DecodeString(strings.TrimPrefix(signature, "sha256=")) // matched signatureRe
		if !hmac.Equal(mac.Sum(nil), want) {
			return nil, errSignature
		}
	}
	return bytes.Join(pieces, nil), nil
}

// refuse answers a request that is not a delivery from GitHub. It keeps a
// counter by reason and, at most every refusalLogEvery, one log line whose
// header values are shown only once valid, and clipped otherwise.
func (s *webhookServer) refuse(w http.ResponseWriter, r *http.Request, code int, reason, msg string) {
	s.Metrics.webhookRefused.WithLabelValues(reason).Inc()
	if r.ContentLength > MaxWebhookBytes || r.ContentLength < 0 {
		w.Header().Set("Connection", "close") // rather than read the rest to reuse the connection
	}
	http.Error(w, msg, code)

	s.mu.Lock()
	now := s.now()
	logNow := !now.Before(s.nextLog)
	suppressed := s.suppressed
	if logNow {
		s.nextLog, s.suppressed = now.Add(refusalLogEvery), 0
	} else {
		s.suppressed++
	}
	s.mu.Unlock()
	if !logNow {
		return
	}
	zerolog.Ctx(r.Context()).Warn().Str("reason", reason).Int("status", code).Str("remote", r.RemoteAddr).
		Str("event", logged(r.Header.Get("X-GitHub-Event"), eventNameRe)).
		Str("delivery_id", logged(r.Header.Get("X-GitHub-Delivery"), deliveryIDRe)).
		Int("suppressed", suppressed).
		Msgf("refused a webhook request; more within %s are only counted (driverbuild_webhook_refused_total)", refusalLogEvery)
}

// logged is a header value as a log may show it: as it is when valid,
// else marked invalid and clipped.
func logged(v string, valid *regexp.Regexp) string {
	if valid.MatchString(v) {
		return v
	}
	const max = 40
	if len(v) > max {
		v = v[:max] + "…"
	}
	return "invalid: " + strconv.QuoteToASCII(v)
}

// onError answers a delivery whose handler failed. A payload that can never
// be applied is recorded and answered 400; anything else is 500, and is
// asked for again by redelivery.
func (s *webhookServer) onError(w http.ResponseWriter, r *http.Request, err error) {
	var invalid githubapp.ValidationError
	if !errors.Is(err, ErrMalformedPayload) && !errors.As(err, &invalid) {
		githubapp.DefaultErrorCallback(w, r, err)
		return
	}
	ctx := r.Context()
	zerolog.Ctx(ctx).Warn().Err(err).Msg("signed webhook payload cannot be applied; recorded as delivered")
	if _, rerr := s.Deliveries.DeliveryRecord(ctx, r.Header.Get("X-GitHub-Delivery"), r.Header.Get("X-GitHub-Event"), "", s.now()); rerr != nil {
		zerolog.Ctx(ctx).Error().Err(rerr).Msg("record malformed delivery")
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	http.Error(w, "the payload cannot be applied: "+err.Error(), http.StatusBadRequest)
}
