package ghsim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/riptides/driverbuild/internal/fakedriver"
	"github.com/riptides/driverbuild/kernel"
)

// PackageArtifact is what a simulated build uploads by default: a real
// .deb or .rpm made by internal/fakedriver, holding a stand-in module for
// the run's kernel, named by naming as the service and the loader name it
// and labelled "{distribution} {distro_version}". Runs whose inputs the
// catalog refuses fail their Package step.
func PackageArtifact(catalog *kernel.Catalog, naming kernel.Naming) ArtifactFunc {
	return func(inputs map[string]string) (string, []byte, string, error) {
		req, format, name, err := artifactName(catalog, naming, inputs)
		if err != nil {
			return "", nil, "", err
		}
		data, err := fakedriver.Package(fakedriver.Spec{
			Format: format, KernelRelease: req.KernelVersion, DriverVersion: req.DriverVersion, Arch: req.Architecture,
		})
		return name, data, artifactLabel(req.Distribution, req.DistroVersion), err
	}
}

// PlaceholderArtifact uploads a line of text under the package's name:
// quicker to make, but no loader can install it.
func PlaceholderArtifact(catalog *kernel.Catalog, naming kernel.Naming) ArtifactFunc {
	return func(inputs map[string]string) (string, []byte, string, error) {
		req, _, name, err := artifactName(catalog, naming, inputs)
		if err != nil {
			return "", nil, "", err
		}
		return name, fmt.Appendf(nil, "ghsim placeholder package %s\n", name), artifactLabel(req.Distribution, req.DistroVersion), nil
	}
}

// DefaultArtifact is PackageArtifact with the service's default
// distributions and package naming.
func DefaultArtifact(inputs map[string]string) (name string, data []byte, label string, err error) {
	return defaultArtifact(inputs)
}

var defaultArtifact = PackageArtifact(kernel.DefaultCatalog(), kernel.DefaultNaming())

func artifactName(catalog *kernel.Catalog, naming kernel.Naming, in map[string]string) (kernel.Request, kernel.Format, string, error) {
	req, err := catalog.Normalize(kernel.Request{
		KernelVersion: in["kernel_version"], Architecture: in["architecture"],
		Distribution: in["distribution"], DistroVersion: in["distro_version"], DriverVersion: in["driver_version"],
	})
	if err != nil {
		return req, "", "", err
	}
	name, err := catalog.PackageName(naming, req)
	if err != nil {
		return req, "", "", err
	}
	format, err := catalog.Format(req.Distribution)
	return req, format, name, err
}

// artifactLabel is the label driver-build.yml gives a package asset.
func artifactLabel(distribution, distroVersion string) string {
	return strings.TrimSpace(distribution + " " + distroVersion)
}

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
