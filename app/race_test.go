//go:build race

package app_test

// raceDetector is true under -race, which runs code ten times slower with
// a cap on live goroutines: a storm sized for the real service only
// overloads it.
const raceDetector = true
