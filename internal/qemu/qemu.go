// Package qemu boots a real Linux kernel under qemu-system-x86_64 for the
// kernel end-to-end test: it fetches a Debian kernel with apt, writes an
// initramfs, and runs the machine with its serial console on a writer.
package qemu

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NIC is the network card the guest gets, and NICModule the module of the
// Debian kernel that drives it.
const (
	NIC       = "e1000"
	NICModule = "e1000"
)

// Machine is one boot.
type Machine struct {
	Kernel    string // the kernel image
	Initramfs []byte // one or more concatenated archives
	Append    string // more of the kernel command line
	MemoryMB  int    // default 512
	Dir       string // where the initramfs file is written
	Console   io.Writer
}

// Accel is how the machine runs, and why: KVM when it works here, else TCG
// (emulation, several times slower, but it runs in any VM).
// $E2E_KERNEL_ACCEL=kvm|tcg decides instead.
func Accel() (name, why string, args []string) {
	kvmArgs := []string{"-enable-kvm", "-cpu", "host"}
	tcgArgs := []string{"-accel", "tcg", "-cpu", "max"}
	switch os.Getenv("E2E_KERNEL_ACCEL") {
	case "kvm":
		return "kvm", "E2E_KERNEL_ACCEL=kvm", kvmArgs
	case "tcg":
		return "tcg", "E2E_KERNEL_ACCEL=tcg", tcgArgs
	}
	if why := kvmBroken(); why != "" {
		return "tcg", why, tcgArgs
	}
	return "kvm", "/dev/kvm works and the CPU has vmx or svm", kvmArgs
}

// kvmBroken says why KVM cannot run a guest here, or "" when it can:
// /dev/kvm must open and speak the stable API (KVM_GET_API_VERSION,
// _IO(0xAE, 0), answers 12), and the CPU must have hardware virtualisation.
// A VM may offer a /dev/kvm without the last: guests then hang in the
// kernel's switch to protected mode, so the node alone proves nothing.
func kvmBroken() string {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return fmt.Sprintf("no usable /dev/kvm (%v)", err)
	}
	defer f.Close()
	if v, err := unix.IoctlRetInt(int(f.Fd()), 0xAE00); err != nil || v != 12 {
		return fmt.Sprintf("/dev/kvm answers KVM_GET_API_VERSION with %d, %v", v, err)
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return fmt.Sprintf("read /proc/cpuinfo: %v", err)
	}
	for l := range strings.Lines(string(cpuinfo)) {
		if flags, ok := strings.CutPrefix(l, "flags"); ok {
			for f := range strings.FieldsSeq(flags) {
				if f == "vmx" || f == "svm" {
					return ""
				}
			}
			break
		}
	}
	return "/dev/kvm is there but the CPU has no vmx or svm flag (a VM without nested virtualisation)"
}

// Run boots the machine and returns when it powers off, which the guest's
// init does when it is done; a kernel panic ends it too (panic=-1 with
// -no-reboot). ctx bounds the whole boot.
func (m Machine) Run(ctx context.Context) error {
	initrd := filepath.Join(m.Dir, "initramfs.cpio")
	if err := os.WriteFile(initrd, m.Initramfs, 0o644); err != nil {
		return err
	}
	mem := m.MemoryMB
	if mem == 0 {
		mem = 512
	}
	_, _, accel := Accel()
	args := append(accel,
		"-nodefaults", "-no-user-config", "-no-reboot",
		"-display", "none", "-monitor", "none", "-serial", "stdio",
		"-m", strconv.Itoa(mem), "-smp", "1",
		"-kernel", m.Kernel, "-initrd", initrd,
		"-append", "console=ttyS0 panic=-1 "+m.Append,
		// User networking: no privileges, and the guest reaches this
		// machine's loopback at 10.0.2.2.
		"-netdev", "user,id=net0", "-device", NIC+",netdev=net0",
	)
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", args...)
	cmd.Stdout, cmd.Stderr = m.Console, m.Console
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("qemu-system-x86_64: %w", err)
	}
	return nil
}
