// Package chaos holds the build-service's chaos tests: the real binaries,
// built with go build, run as replicas on one Postgres behind a load
// balancer, against a ghsim process with its faults switched on, while the
// tests kill replicas, restart them and stop the database. Its sizes are
// CI's by default; CHAOS_BUILDS, CHAOS_KEYS and CHAOS_OUTAGE run it larger
// by hand (see chaos_test.go).
package chaos
