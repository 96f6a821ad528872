package ghsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// DefaultArtifact is the package a simulated run uploads unless
// Config.Artifact says otherwise: placeholder bytes under the name the
// driver-loader looks for,
// riptides-driver-{distribution}-{kernel_version}_{driver_version}_{amd64|arm64}.{deb|rpm},
// labelled "{distribution} {distro_version}".
func DefaultArtifact(inputs map[string]string) (name string, data []byte, label string, err error) {
	arch, ok := packageArch[inputs["architecture"]]
	if !ok {
		return "", nil, "", fmt.Errorf("architecture %q: want x86_64, aarch64, amd64 or arm64", inputs["architecture"])
	}
	ext := "rpm"
	if d := inputs["distribution"]; d == "ubuntu" || d == "debian" {
		ext = "deb"
	}
	name = fmt.Sprintf("riptides-driver-%s-%s_%s_%s.%s",
		inputs["distribution"], inputs["kernel_version"], inputs["driver_version"], arch, ext)
	data = fmt.Appendf(nil, "ghsim placeholder package %s\n", name)
	label = strings.TrimSpace(inputs["distribution"] + " " + inputs["distro_version"])
	return name, data, label, nil
}

var packageArch = map[string]string{"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

func packageContentType(name string) string {
	switch {
	case strings.HasSuffix(name, ".deb"):
		return "application/vnd.debian.binary-package"
	case strings.HasSuffix(name, ".rpm"):
		return "application/x-rpm"
	}
	return "application/octet-stream"
}

func hashHex(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
