package qemu

import (
	"bytes"
	_ "embed"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
)

// HostAddr is this machine's loopback as the guest reaches it through
// QEMU's user networking.
const HostAddr = "10.0.2.2"

//go:embed init.sh
var initScript []byte

// Guest is what every boot of the test guest shares: a static busybox, a
// static driver-loader, an os-release, and the modules the network needs.
type Guest struct {
	Busybox   string
	Loader    string
	OSRelease []byte
	Modules   []string // files, in load order
}

// Initramfs is the guest's base archive.
func (g Guest) Initramfs() ([]byte, error) {
	var buf bytes.Buffer
	a := NewInitramfs(&buf)
	for _, dir := range []string{"proc", "sys", "dev", "tmp", "etc/driver-loader"} {
		if err := a.Dir(dir); err != nil {
			return nil, err
		}
	}
	for _, f := range []struct{ src, dst string }{{g.Busybox, "bin/busybox"}, {g.Loader, "bin/driver-loader"}} {
		static, err := Static(f.src)
		if err != nil {
			return nil, err
		}
		if !static {
			return nil, fmt.Errorf("%s is not statically linked: the guest has no libc", f.src)
		}
		if err := copyFile(a, f.src, f.dst); err != nil {
			return nil, err
		}
	}
	var list []string
	for _, m := range g.Modules {
		dst := "lib/e2e/" + path.Base(m)
		if err := copyFile(a, m, dst); err != nil {
			return nil, err
		}
		list = append(list, "/"+dst)
	}
	files := []struct {
		name string
		mode os.FileMode
		data []byte
	}{
		{"init", 0o755, initScript},
		{"etc/os-release", 0o644, g.OSRelease},
		{"etc/e2e/modules", 0o644, []byte(strings.Join(list, "\n") + "\n")},
	}
	for _, f := range files {
		if err := a.File(f.name, f.mode, f.data); err != nil {
			return nil, err
		}
	}
	if err := a.Symlink("bin/sh", "busybox"); err != nil {
		return nil, err
	}
	if err := a.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Boot is what one boot adds to the base: the loader's config file and the
// host ports to forward from the guest's loopback.
func Boot(loaderConfig []byte, forward ...int) ([]byte, error) {
	var buf bytes.Buffer
	a := NewInitramfs(&buf)
	ports := make([]string, len(forward))
	for i, p := range forward {
		ports[i] = strconv.Itoa(p)
	}
	if err := a.File("etc/driver-loader/config.yaml", 0o644, loaderConfig); err != nil {
		return nil, err
	}
	if err := a.File("etc/e2e/forward", 0o644, []byte(strings.Join(ports, "\n")+"\n")); err != nil {
		return nil, err
	}
	if err := a.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func copyFile(a *Initramfs, src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return a.File(dst, 0o755, data)
}
