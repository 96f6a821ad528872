// Package hostile holds the hostile-traffic suite: it builds the real
// build-service, ghsim and driver-loader binaries, runs them on loopback
// and attacks them over HTTP as anyone who reaches their ports could,
// asserting the refusals and that the service stays responsive with
// bounded memory and log.
package hostile
