// Command nfpm is the test stand-in for `nfpm package`: the same flags, and
// the same library calls as nfpm's own package command, so a config the
// build script writes is parsed and packaged as the real CLI would.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb"
	_ "github.com/goreleaser/nfpm/v2/rpm"
)

func main() {
	if len(os.Args) < 2 || os.Args[1] != "package" {
		fmt.Fprintln(os.Stderr, "nfpm stand-in: only `nfpm package --config F --packager P --target T`")
		os.Exit(2)
	}
	fs := flag.NewFlagSet("package", flag.ExitOnError)
	config := fs.String("config", "nfpm.yaml", "")
	packager := fs.String("packager", "", "")
	target := fs.String("target", "", "")
	_ = fs.Parse(os.Args[2:])
	if err := pkg(*config, *packager, *target); err != nil {
		fmt.Fprintln(os.Stderr, "nfpm:", err)
		os.Exit(1)
	}
}

func pkg(config, packager, target string) error {
	c, err := nfpm.ParseFile(config)
	if err != nil {
		return err
	}
	info, err := c.Get(packager)
	if err != nil {
		return err
	}
	info = nfpm.WithDefaults(info)
	if err := nfpm.Validate(info); err != nil {
		return err
	}
	p, err := nfpm.Get(packager)
	if err != nil {
		return err
	}
	f, err := os.Create(target)
	if err != nil {
		return err
	}
	defer f.Close()
	info.Target = target
	if err := p.Package(info, f); err != nil {
		os.Remove(target)
		return err
	}
	return f.Close()
}
