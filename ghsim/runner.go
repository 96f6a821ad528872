package ghsim

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/riptides/driverbuild/kernel"
)

// A runner command is a real build for each dispatched run. It runs under
// /bin/sh -c in ghsim's working directory, with ghsim's environment plus
// each workflow input as an upper-case variable (KERNEL_VERSION,
// ARCHITECTURE, DISTRIBUTION, DISTRO_VERSION, DRIVER_VERSION, BUILD_ID, and
// any other input), PACKAGE_NAME (the package's file name under the
// default naming, as images/scripts/build.sh takes it; absent when the
// inputs name no package) and OUT_DIR, an empty directory of its own. Every
// regular file it leaves in OUT_DIR is uploaded to the release of
// DRIVER_VERSION once it exits 0; a non-zero exit fails the run. A line it
// prints (stdout or stderr) of the form
//
//	::group::NAME
//
// ends the job's running step and starts one named NAME, as GitHub Actions
// folds a log; the job's steps so follow its progress.

// The steps that frame the command's own.
const (
	stepSetUp    = "Set up job"
	stepUpload   = "Upload"
	stepComplete = "Complete job"
	groupMarker  = "::group::"
	tailLines    = 20
)

// runCommand runs the runner command for r and completes r from its exit
// status. It returns when the run completes, is cancelled, or the server
// closes.
func (s *Server) runCommand(r *run) {
	defer s.wg.Done()
	if !s.begin(r, []string{stepSetUp}) {
		return
	}
	out, err := os.MkdirTemp("", "ghsim-run-*")
	if err != nil {
		s.failRun(r, fmt.Errorf("output directory: %w", err))
		return
	}
	defer os.RemoveAll(out)

	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	go func() {
		select {
		case <-r.stop: // cancelled through the API
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := s.execute(ctx, r, out); err != nil {
		s.failRun(r, err)
		return
	}
	if !s.startStep(r, stepUpload) {
		return
	}
	files, err := s.outputs(r, out)
	if err == nil {
		err = s.publish(r, files)
	}
	if err != nil {
		s.failRun(r, err)
		return
	}
	// Upload is done, then Complete job, the last step.
	if i, ok := s.runningStep(r); ok && s.finishStep(r, i, nil) {
		s.finishStep(r, i+1, nil)
	}
}

// execute runs the command, turning its ::group:: lines into steps.
func (s *Server) execute(ctx context.Context, r *run, out string) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", s.cfg.RunnerCommand)
	cmd.Env = append(os.Environ(), "OUT_DIR="+out)
	for name, v := range r.inputs {
		cmd.Env = append(cmd.Env, strings.ToUpper(strings.ReplaceAll(name, "-", "_"))+"="+v)
	}
	if _, _, pkg, err := artifactName(kernel.DefaultCatalog(), kernel.DefaultNaming(), r.inputs); err == nil {
		cmd.Env = append(cmd.Env, "PACKAGE_NAME="+pkg)
	}
	// The command's children go with it when the run is cancelled.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start runner command: %w", err)
	}
	done := make(chan struct{})
	var tail []string // the last lines, to say why a build failed
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if tail = append(tail, line); len(tail) > tailLines {
				tail = tail[1:]
			}
			s.log.Debug().Int64("run_id", r.id).Str("line", line).Msg("runner output")
			if name, ok := strings.CutPrefix(strings.TrimSpace(line), groupMarker); ok && strings.TrimSpace(name) != "" {
				s.startStep(r, strings.TrimSpace(name))
			}
		}
		_, _ = io.Copy(io.Discard, pr) // a line past the buffer: drain, so the command is not blocked
	}()
	err := cmd.Wait()
	pw.Close()
	<-done
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.As(err, &exit):
		s.log.Warn().Int64("run_id", r.id).Int("exit_code", exit.ExitCode()).Str("output_tail", strings.Join(tail, "\n")).Msg("runner command failed")
		return fmt.Errorf("runner command exited with %d", exit.ExitCode())
	case err != nil:
		return fmt.Errorf("runner command: %w", err)
	}
	return nil
}

// outputs reads the regular files the command left in out.
func (s *Server) outputs(r *run, out string) ([]runFile, error) {
	entries, err := os.ReadDir(out)
	if err != nil {
		return nil, fmt.Errorf("read output directory: %w", err)
	}
	label := artifactLabel(r.inputs["distribution"], r.inputs["distro_version"])
	var files []runFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		if !validAssetName(e.Name()) {
			return nil, fmt.Errorf("upload: %q is not a valid asset name", e.Name())
		}
		data, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("upload: %w", err)
		}
		f := runFile{name: e.Name(), label: label, contentType: packageContentType(e.Name()), data: data}
		if strings.HasSuffix(f.name, ".sha256") {
			f.label, f.contentType = "", "text/plain"
		}
		files = append(files, f)
	}
	return files, nil
}

// startStep ends the running step with success and starts one named
// name, keeping "Complete job" last. It reports whether the run goes on.
func (s *Server) startStep(r *run, name string) bool {
	s.act.mu.Lock()
	defer s.act.mu.Unlock()
	if r.status == statusCompleted || s.closed.Load() {
		return false
	}
	now := s.now()
	steps := r.job.steps
	if n := len(steps); n > 0 && steps[n-1].name == stepComplete {
		steps = steps[:n-1]
	}
	for i := range steps {
		if steps[i].status == statusInProgress {
			steps[i].status, steps[i].conclusion, steps[i].completedAt = statusCompleted, conclusionSuccess, now
		}
	}
	steps = append(steps, step{name: name, status: statusInProgress, startedAt: now}, step{name: stepComplete, status: statusQueued})
	r.job.steps, r.updatedAt = steps, now
	return true
}

// runningStep is the index of the step in progress, if any.
func (s *Server) runningStep(r *run) (int, bool) {
	s.act.mu.Lock()
	defer s.act.mu.Unlock()
	for i, st := range r.job.steps {
		if st.status == statusInProgress {
			return i, true
		}
	}
	return 0, false
}

// failRun fails the running step with err and completes the run.
func (s *Server) failRun(r *run, err error) {
	if i, ok := s.runningStep(r); ok {
		s.finishStep(r, i, err)
	}
}
