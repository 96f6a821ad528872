# The kernel end-to-end test (internal/qemu): Debian 12's current kernel
# boots under QEMU, the real build script builds the driver for it, and the
# driver-loader loads it. It runs as root on a Debian 12 machine, which
# installs what it needs with apt: these packages here, the kernel headers
# in the build (images/scripts/install-headers.sh), the kernel image in the
# test (apt-get download, nothing installed).
E2E_KERNEL_PACKAGES := qemu-system-x86 busybox-static build-essential ca-certificates

.PHONY: e2e-kernel e2e-kernel-deps

e2e-kernel: e2e-kernel-deps
	DRIVERBUILD_E2E_KERNEL=1 E2E_KERNEL_ARTIFACTS=$(CURDIR)/_artifacts/e2e-kernel \
		go test -count=1 -v -timeout 30m -run '^TestKernel$$' ./internal/qemu/

e2e-kernel-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(E2E_KERNEL_PACKAGES) >/dev/null
