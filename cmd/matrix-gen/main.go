// Command matrix-gen makes the GitHub Actions build matrices of the nightly
// batch, checks kernels.json, names packages for the build workflow and
// lists the base images to build.
//
//	matrix-gen [--kernels-json FILE | --kernel-crawler FILE|URL ...] [--livepatch-repo DIR|URL ...]
//	           --driver-version V [--existing FILE | --repo OWNER/NAME | --all]
//	matrix-gen validate [FILE]
//	matrix-gen name --kernel-version R --architecture A --distribution D --distro-version V --driver-version V [--github-output]
//	matrix-gen images
//	matrix-gen release --driver-version V --package NAME [--github-output]
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/go-github/v66/github"

	"github.com/riptides/driverbuild/kernel"
	"github.com/riptides/driverbuild/matrix"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "matrix-gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cat := kernel.DefaultCatalog()
	if len(args) > 0 {
		switch args[0] {
		case "validate":
			return runValidate(cat, args[1:], stdout, stderr)
		case "name":
			return runName(cat, args[1:], stdout, stderr)
		case "images":
			return runImages(cat, args[1:], stdout, stderr)
		case "release":
			return runRelease(args[1:], stdout, stderr)
		}
	}
	return runGenerate(ctx, cat, args, stdout, stderr)
}

// list is a flag that may be given more than once.
type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func namingFlags(fs *flag.FlagSet) *kernel.Naming {
	n := kernel.DefaultNaming()
	fs.StringVar(&n.Prefix, "package-prefix", n.Prefix, "package name prefix, as the build-service is configured")
	fs.StringVar(&n.Template, "name-template", n.Template, "package name template, as the build-service is configured")
	return &n
}

func runGenerate(ctx context.Context, cat *kernel.Catalog, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("matrix-gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		kernelsJSON   = fs.String("kernels-json", ".github/kernels.json", "kernels to build, the demand-driven list")
		crawler       list
		arch          = fs.String("arch", kernel.ArchX86_64, "architecture of kernel-crawler entries whose release and headers do not say")
		livepatch     list
		driverVersion = fs.String("driver-version", "", "driver release tag to build, vMAJOR.MINOR.PATCH (required)")
		existing      = fs.String("existing", "", "file of asset names the release holds, one per line or a JSON array")
		repo          = fs.String("repo", "", "OWNER/NAME whose release of --driver-version holds the existing assets (GitHub API, token from GITHUB_TOKEN)")
		apiURL        = fs.String("api-url", cmp.Or(os.Getenv("GITHUB_API_URL"), "https://api.github.com"), "GitHub REST API base URL")
		all           = fs.Bool("all", false, "build everything, whatever the release holds")
		chunkSize     = fs.Int("chunk-size", matrix.MaxChunk, "jobs per matrix, at most 256")
	)
	fs.Var(&crawler, "kernel-crawler", "kernel-crawler list.json, FILE or URL, instead of kernels.json (repeatable)")
	fs.Var(&livepatch, "livepatch-repo", "Amazon Linux 2023 kernel-livepatch repository, DIR or URL, whose kernels are added (repeatable)")
	naming := namingFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: subcommands are validate, name, images and release", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["kernels-json"] && len(crawler) > 0:
		return errors.New("--kernels-json and --kernel-crawler exclude each other: the nightly batch reads one source")
	case *existing != "" && *repo != "":
		return errors.New("--existing and --repo exclude each other")
	case *all && (*existing != "" || *repo != ""):
		return errors.New("--all rebuilds everything; it excludes --existing and --repo")
	}
	if _, err := kernel.NormalizeArch(*arch); err != nil {
		return fmt.Errorf("--arch: %w", err)
	}

	var (
		entries []matrix.Entry
		skipped []matrix.Skipped
	)
	if len(crawler) == 0 {
		data, err := os.ReadFile(*kernelsJSON)
		if err != nil {
			return err
		}
		k, err := matrix.ParseKernels(data)
		if err != nil {
			return fmt.Errorf("%s: %w", *kernelsJSON, err)
		}
		entries = k.Entries()
	}
	for _, src := range crawler {
		es, ss, err := readCrawler(ctx, src, *arch)
		if err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		entries, skipped = append(entries, es...), append(skipped, ss...)
	}
	for _, src := range livepatch {
		es, ss, err := matrix.Livepatch(ctx, src)
		if err != nil {
			return err
		}
		fmt.Fprintf(stderr, "%s: %d livepatch kernels\n", src, len(es))
		entries, skipped = append(entries, es...), append(skipped, ss...)
	}

	opts := matrix.Options{Catalog: cat, Naming: *naming, DriverVersion: *driverVersion, ChunkSize: *chunkSize}
	switch {
	case *existing != "":
		f, err := os.Open(*existing)
		if err != nil {
			return err
		}
		opts.Existing, err = matrix.ReadExisting(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *existing, err)
		}
	case *repo != "":
		gh, owner, name, err := githubClient(*repo, *apiURL)
		if err != nil {
			return err
		}
		if err := kernel.ValidateDriverVersion(*driverVersion); err != nil {
			return err
		}
		if opts.Existing, err = matrix.ExistingAssets(ctx, gh, owner, name, *driverVersion); err != nil {
			return err
		}
	}

	res, err := matrix.Build(entries, skipped, opts)
	if err != nil {
		return err
	}
	jobs := 0
	for _, c := range res.Chunks {
		jobs += len(c.Include)
	}
	fmt.Fprintf(stderr, "%d kernels: %d already released, %d to build in %d chunks; %d entries skipped\n",
		res.Kernels, res.Built, jobs, len(res.Chunks), len(res.Skipped))
	return json.NewEncoder(stdout).Encode(res)
}

func readCrawler(ctx context.Context, src, arch string) ([]matrix.Entry, []matrix.Skipped, error) {
	rc, err := matrix.Open(ctx, src)
	if err != nil {
		return nil, nil, err
	}
	defer rc.Close()
	return matrix.ParseCrawler(rc, arch)
}

func githubClient(repo, apiURL string) (*github.Client, string, string, error) {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return nil, "", "", fmt.Errorf("--repo %q: accepted is OWNER/NAME", repo)
	}
	u, err := url.Parse(strings.TrimSuffix(apiURL, "/") + "/")
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, "", "", fmt.Errorf("--api-url %q: accepted is an http(s) URL", apiURL)
	}
	gh := github.NewClient(nil)
	if tok := os.Getenv("GITHUB_TOKEN"); tok != "" {
		gh = gh.WithAuthToken(tok)
	}
	gh.BaseURL = u
	return gh, owner, name, nil
}

func runValidate(cat *kernel.Catalog, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("matrix-gen validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 1 {
		return errors.New("validate takes one file")
	}
	file := cmp.Or(fs.Arg(0), ".github/kernels.json")
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	k, err := matrix.ParseKernels(data)
	if err == nil {
		err = k.Validate(cat)
	}
	if err != nil {
		return fmt.Errorf("%s is not valid:\n%w", file, err)
	}
	fmt.Fprintf(stdout, "%s: %d kernels, valid\n", file, len(k.Entries()))
	return nil
}

func runName(cat *kernel.Catalog, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("matrix-gen name", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var r kernel.Request
	fs.StringVar(&r.KernelVersion, "kernel-version", "", "kernel release as uname -r prints it")
	fs.StringVar(&r.Architecture, "architecture", "", "x86_64 or aarch64")
	fs.StringVar(&r.Distribution, "distribution", "", "distribution")
	fs.StringVar(&r.DistroVersion, "distro-version", "", "distribution version (default: derived, or the distribution's default)")
	fs.StringVar(&r.DriverVersion, "driver-version", "", "driver release tag")
	githubOutput := fs.Bool("github-output", false, "print key=value lines for $GITHUB_OUTPUT: the normalized request, package, format, pkgarch, prefix")
	naming := namingFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := naming.Validate(); err != nil {
		return err
	}
	r, err := cat.Normalize(r)
	if err != nil {
		return err
	}
	pkg, err := cat.PackageName(*naming, r)
	if err != nil {
		return err
	}
	if !*githubOutput {
		_, err := fmt.Fprintln(stdout, pkg)
		return err
	}
	format, _ := cat.Format(r.Distribution)
	_, err = fmt.Fprintf(stdout, "kernel_version=%s\narchitecture=%s\ndistribution=%s\ndistro_version=%s\ndriver_version=%s\npackage=%s\nformat=%s\npkgarch=%s\nprefix=%s\n",
		r.KernelVersion, r.Architecture, r.Distribution, r.DistroVersion, r.DriverVersion, pkg, format, kernel.PkgArch(r.Architecture), naming.Prefix)
	return err
}

// runImages prints the base images to build as a matrix: every supported
// distribution version.
func runImages(cat *kernel.Catalog, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("matrix-gen images", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	type image struct {
		Distribution  string `json:"distribution"`
		DistroVersion string `json:"distro_version"`
	}
	var m struct {
		Include []image `json:"include"`
	}
	for _, d := range cat.Distributions() {
		for _, v := range d.Versions {
			m.Include = append(m.Include, image{d.Name, v})
		}
	}
	return json.NewEncoder(stdout).Encode(m)
}

// runRelease prints the tag of the release a package lives in
// (kernel.ReleaseTag), for the workflow that uploads it.
func runRelease(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("matrix-gen release", flag.ContinueOnError)
	fs.SetOutput(stderr)
	driverVersion := fs.String("driver-version", "", "driver release tag")
	pkg := fs.String("package", "", "package file name, as matrix-gen name prints it")
	githubOutput := fs.Bool("github-output", false, "print key=value lines for $GITHUB_OUTPUT: release, shard (0 for the driver version's own release), shards")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := kernel.ValidateDriverVersion(*driverVersion); err != nil {
		return err
	}
	if err := kernel.ValidatePackageName(*pkg); err != nil {
		return err
	}
	tag := kernel.ReleaseTag(*driverVersion, *pkg)
	if !*githubOutput {
		_, err := fmt.Fprintln(stdout, tag)
		return err
	}
	_, shard, _ := kernel.DriverVersionOfTag(tag)
	_, err := fmt.Fprintf(stdout, "release=%s\nshard=%d\nshards=%d\n", tag, shard, kernel.Shards(*driverVersion))
	return err
}
