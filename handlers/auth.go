package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/rs/zerolog"
	"github.com/rs/zerolog/hlog"
	"golang.org/x/time/rate"
)

// Role is what a client may do. An admin may do what a loader may.
type Role string

const (
	// RoleLoader may ask for builds and read their status.
	RoleLoader Role = "loader"
	// RoleAdmin may also read the audit API and the dashboard.
	RoleAdmin Role = "admin"
)

// Client is one entry of api.clients: a named token, kept as the hex
// sha256 of the token so that the config file holds no secret.
type Client struct {
	Name   string `yaml:"name"`
	Role   Role   `yaml:"role"`
	SHA256 string `yaml:"sha256"`
}

// RateLimit is a token bucket per client (or per address).
type RateLimit struct {
	// PerSecond is the sustained rate.
	PerSecond float64 `yaml:"per_second"`
	// Burst is how many requests may come at once.
	Burst int `yaml:"burst"`
	// Per is "token" (one bucket per client) or "ip" (one per remote
	// address).
	Per string `yaml:"per"`
}

// DefaultRateLimit lets a 2,000-node boot storm on one token through
// (TestBootStormIsServed replays one): every node asks once and polls
// after 2 s, 3 s, 4.5 s ... up to every 30 s (the loader's backoff), so
// the first 5 s bring 6,000 requests and the steady state 67 per second.
func DefaultRateLimit() RateLimit {
	return RateLimit{PerSecond: 300, Burst: 10000, Per: "token"}
}

// Validate says what is wrong with a rate limit, naming keys under prefix.
func (l RateLimit) Validate(prefix string) error {
	var errs []error
	if l.PerSecond <= 0 || math.IsInf(l.PerSecond, 0) || math.IsNaN(l.PerSecond) {
		errs = append(errs, fmt.Errorf("%s.per_second must be a positive number of requests per second, got %v", prefix, l.PerSecond))
	}
	if l.Burst < 1 {
		errs = append(errs, fmt.Errorf("%s.burst must be at least 1, got %d", prefix, l.Burst))
	}
	if l.Per != "token" && l.Per != "ip" {
		errs = append(errs, fmt.Errorf("%s.per %q: accepted are token and ip", prefix, l.Per))
	}
	return errors.Join(errs...)
}

// HashToken is the form a token is kept in: lower-case hex sha256.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ValidateClients says what is wrong with api.clients.
func ValidateClients(clients []Client) error {
	var errs []error
	names, sums := map[string]bool{}, map[string]bool{}
	for i, c := range clients {
		at := fmt.Sprintf("api.clients[%d]", i)
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name is empty: name each client, it is logged with its requests", at))
		} else if names[c.Name] {
			errs = append(errs, fmt.Errorf("%s.name %q is used twice", at, c.Name))
		}
		names[c.Name] = true
		if c.Role != RoleLoader && c.Role != RoleAdmin {
			errs = append(errs, fmt.Errorf("%s.role %q: accepted are loader and admin", at, c.Role))
		}
		if b, err := hex.DecodeString(c.SHA256); err != nil || len(b) != sha256.Size {
			errs = append(errs, fmt.Errorf("%s.sha256 must be the 64 hex digits `build-service hash-token` prints for the token", at))
		} else if s := strings.ToLower(c.SHA256); sums[s] {
			errs = append(errs, fmt.Errorf("%s.sha256 is another client's token", at))
		} else {
			sums[s] = true
		}
	}
	return errors.Join(errs...)
}

// Access decides who may call which route, and how often.
type Access struct {
	clients []client
	// open lets every request through: -dev.
	open bool
	// anonymous lets requests without a token onto loader routes: no
	// client is configured.
	anonymous bool
	limits    *limiter
}

type client struct {
	name string
	role Role
	sum  []byte
}

// AccessConfig configures NewAccess.
type AccessConfig struct {
	Clients []Client
	// Open (dev mode) asks no token anywhere.
	Open bool
	// Anonymous lets callers without a token onto the loader routes; the
	// admin routes still need an admin token.
	Anonymous bool
	RateLimit RateLimit
}

// NewAccess checks the clients and the rate limit.
func NewAccess(c AccessConfig) (*Access, error) {
	if err := errors.Join(ValidateClients(c.Clients), c.RateLimit.Validate("api.rate_limit")); err != nil {
		return nil, err
	}
	a := &Access{open: c.Open, anonymous: c.Anonymous, limits: newLimiter(c.RateLimit)}
	for _, cl := range c.Clients {
		sum, _ := hex.DecodeString(cl.SHA256) // validated above
		a.clients = append(a.clients, client{name: cl.Name, role: cl.Role, sum: sum})
	}
	return a, nil
}

type clientKey struct{}

// ClientName is the name of the client a request came from, "" when it
// sent no token.
func ClientName(ctx context.Context) string {
	name, _ := ctx.Value(clientKey{}).(string)
	return name
}

// Loader guards a route loaders call.
func (a *Access) Loader(next http.Handler) http.Handler { return a.require(RoleLoader, next) }

// Admin guards a route of the operators: the audit API, the dashboard.
func (a *Access) Admin(next http.Handler) http.Handler { return a.require(RoleAdmin, next) }

func (a *Access) require(role Role, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var c *client
		if !a.open {
			token, sent := credentials(r)
			if sent {
				c = a.lookup(token)
			}
			if c != nil {
				name := c.name
				hlog.FromRequest(r).UpdateContext(func(l zerolog.Context) zerolog.Context { return l.Str("client", name) })
				r = r.WithContext(context.WithValue(r.Context(), clientKey{}, name))
			}
			switch {
			case c == nil && role == RoleLoader && a.anonymous:
			case c == nil && !sent:
				a.challenge(w, role, "missing token: send Authorization: Bearer <token>")
				return
			case c == nil:
				a.challenge(w, role, "unknown token: send a token api.clients lists")
				return
			case role == RoleAdmin && c.role != RoleAdmin:
				writeError(w, http.StatusForbidden, "", "client %q is a %s: this route needs an admin token", c.name, c.role)
				return
			}
		}
		key := "anonymous"
		if c != nil {
			key = "client " + c.name
		}
		if a.limits.per == "ip" {
			key, _, _ = net.SplitHostPort(r.RemoteAddr)
		}
		if wait := a.limits.take(key, time.Now()); wait > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
			writeError(w, http.StatusTooManyRequests, "", "rate limit of %g requests per second (burst %d) exceeded; retry after the Retry-After seconds", a.limits.perSecond, a.limits.burst)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// credentials reads a bearer token, or the password of basic auth (a
// browser's login; the user name is not checked).
func credentials(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if token, ok := strings.CutPrefix(h, "Bearer "); ok {
		return token, true
	}
	if _, password, ok := r.BasicAuth(); ok {
		return password, true
	}
	return "", h != ""
}

// lookup compares the token's hash with every client's, in constant time
// and without stopping at a match, so timing tells nothing of either.
func (a *Access) lookup(token string) *client {
	sum := sha256.Sum256([]byte(token))
	var found *client
	for i := range a.clients {
		if subtle.ConstantTimeCompare(sum[:], a.clients[i].sum) == 1 {
			found = &a.clients[i]
		}
	}
	return found
}

func (a *Access) challenge(w http.ResponseWriter, role Role, msg string) {
	w.Header().Add("WWW-Authenticate", `Bearer realm="driverbuild"`)
	if role == RoleAdmin {
		// Makes a browser ask for a login; the password is the token.
		w.Header().Add("WWW-Authenticate", `Basic realm="driverbuild admin", charset="UTF-8"`)
	}
	writeError(w, http.StatusUnauthorized, "", "%s", msg)
}

// limiter keeps one token bucket per key.
type limiter struct {
	per       string
	perSecond float64
	burst     int

	mu      sync.Mutex
	buckets *simplelru.LRU[string, *rate.Limiter]
}

// maxBuckets bounds the memory per-address limits may take: past it, the
// bucket of the key not heard from the longest goes (it has refilled the
// most), at the same cost however many addresses ask.
const maxBuckets = 100000

func newLimiter(l RateLimit) *limiter {
	buckets, err := simplelru.NewLRU[string, *rate.Limiter](maxBuckets, nil)
	if err != nil {
		panic(err) // only for a size below one
	}
	return &limiter{per: l.Per, perSecond: l.PerSecond, burst: l.Burst, buckets: buckets}
}

// take spends one request of key's bucket, or says how long to wait.
func (l *limiter) take(key string, now time.Time) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets.Get(key)
	if !ok {
		b = rate.NewLimiter(rate.Limit(l.perSecond), l.burst)
		l.buckets.Add(key, b)
	}
	res := b.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return d
	}
	return 0
}
