// Package driverbuild holds files of the repository that programs need at run
// time, so that the simulator and the service agree with the real workflow.
package driverbuild

import _ "embed"

// DriverBuildWorkflow is .github/workflows/driver-build.yml: the inputs it
// declares and its run-name are what ghsim checks dispatches against.
//
//go:embed .github/workflows/driver-build.yml
var DriverBuildWorkflow []byte

// KernelsJSON is .github/kernels.json, the kernels the nightly batch
// rebuilds: ghsim's default branch starts with it.
//
//go:embed .github/kernels.json
var KernelsJSON []byte

// ConfigYAML is config.yml, every key commented: `build-service setup`
// writes a new App's credentials into a copy of it.
//
//go:embed config.yml
var ConfigYAML []byte
