// Package lint checks what Go's own tools do not: the GitHub workflows with
// actionlint (as a library, with shellcheck on their run: scripts when it is
// installed) and every shell script in the repository with shellcheck.
package lint

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"
	"github.com/stretchr/testify/require"
)

// root is the repository root: the nearest directory above with a go.mod.
func root(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		require.NotEqual(t, dir, parent, "no go.mod above the working directory")
		dir = parent
	}
}

// shellcheck finds the shellcheck binary. Without it the checks are skipped
// on a workstation, and fail in CI (CI set), which must install it.
func shellcheck(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("shellcheck")
	if err == nil {
		return path
	}
	if os.Getenv("CI") != "" {
		t.Fatal("shellcheck is not installed; CI must install it (apt-get install -y shellcheck)")
	}
	t.Skip("shellcheck is not installed")
	return ""
}

func TestActionlint(t *testing.T) {
	t.Parallel()
	dir := root(t)
	opts := &actionlint.LinterOptions{Oneline: true, WorkingDir: dir}
	if path, err := exec.LookPath("shellcheck"); err == nil {
		opts.Shellcheck = path
	} else if os.Getenv("CI") != "" {
		t.Fatal("shellcheck is not installed; CI must install it (apt-get install -y shellcheck) so that actionlint checks run: scripts")
	} else {
		t.Log("shellcheck is not installed: run: scripts are not shellchecked")
	}
	var out bytes.Buffer
	l, err := actionlint.NewLinter(&out, opts)
	require.NoError(t, err)
	files, err := filepath.Glob(filepath.Join(dir, ".github", "workflows", "*.y*ml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	errs, err := l.LintFiles(files, nil)
	require.NoError(t, err)
	require.Empty(t, errs, "actionlint:\n%s", out.String())
}

// scriptDirs are where shell scripts without the .sh suffix live (the build
// scripts' test fakes are named as the commands they stand in for).
var scriptDirs = []string{".ci", "images", "scripts"}

// scripts lists the shell scripts in the repository: every *.sh file, and
// in scriptDirs also the executables whose first line names sh or bash.
func scripts(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != dir && (strings.HasPrefix(name, ".") && name != ".github" && name != ".ci" || name == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(path, ".sh") {
			out = append(out, path)
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		top, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		if !slices.Contains(scriptDirs, top) {
			return nil
		}
		info, err := d.Info()
		if err != nil || info.Mode()&0o111 == 0 || info.Size() > 1<<20 {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		first, _, _ := bytes.Cut(b, []byte("\n"))
		if bytes.HasPrefix(first, []byte("#!")) && (bytes.HasSuffix(first, []byte("sh")) || bytes.HasSuffix(first, []byte("bash"))) {
			out = append(out, path)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func TestShellcheck(t *testing.T) {
	t.Parallel()
	bin := shellcheck(t)
	dir := root(t)
	files := scripts(t, dir)
	require.NotEmpty(t, files)
	for _, f := range files {
		rel, err := filepath.Rel(dir, f)
		require.NoError(t, err)
		t.Run(rel, func(t *testing.T) {
			t.Parallel()
			// Read it here too: go test caches by the files this process opens.
			_, err := os.ReadFile(f)
			require.NoError(t, err)
			cmd := exec.Command(bin, "--external-sources", rel)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "shellcheck %s:\n%s", rel, out)
		})
	}
}
