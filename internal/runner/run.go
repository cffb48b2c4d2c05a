package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/google/uuid"
)

// Run compiles (when the language needs it) and runs req.Code in fresh
// sandboxes and returns what happened. A program that fails is a Result with
// a nil error; errors are the service's own: ErrUnknownLanguage, ErrBusy,
// ErrUnavailable, context cancellation, or an infrastructure fault.
//
// Whatever happens, including ctx being cancelled because the client went
// away, every container, task, snapshot, FIFO and the job directory are
// removed before Run returns.
func (r *Runner) Run(ctx context.Context, req Request) (Result, error) {
	lang, ok := r.cfg.Languages[req.Language]
	if !ok {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownLanguage, req.Language)
	}
	res := Result{ID: uuid.NewString()}

	queued := time.Now()
	release, err := r.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	res.QueueTime = time.Since(queued)

	// Teardown runs after Run returns, so the client does not wait for it;
	// the slot is held until it is done, so cleanup counts against the
	// concurrency limit, and Close waits for it.
	td := &teardown{}
	td.add(release)
	r.pending.Add(1)
	defer func() {
		go func() {
			defer r.pending.Done()
			td.run()
		}()
	}()

	dir, err := r.newJobDir(res.ID, lang, req.Code)
	if err != nil {
		return Result{}, err
	}
	// The job directory goes last, after every container that mounted it.
	td.add(func() { r.removeJobDir(dir) })

	if lang.Compiled() {
		c, err := r.sandbox(ctx, sandboxSpec{
			id:       res.ID + "-compile",
			job:      res.ID,
			lang:     lang,
			args:     lang.Compile,
			cwd:      oci.JobMountPoint,
			jobDir:   dir,
			writable: true, // the compiler writes the binary next to the source
			limits:   r.cfg.CompileLimits,
			timeout:  r.cfg.CompileTimeout,
		}, td)
		if err != nil {
			return Result{}, err
		}
		res.CompileTime = c.elapsed
		if status := c.classify(); status != StatusSuccess {
			res.Status = StatusCompileError
			res.CompileOutput = compileOutput(c, status, r.cfg)
			res.ExitCode, res.Signal = c.exitCode, c.signal
			return res, nil
		}
		res.CompileOutput = c.stdout + c.stderr
	}

	x, err := r.sandbox(ctx, sandboxSpec{
		id:      res.ID + "-run",
		job:     res.ID,
		lang:    lang,
		args:    lang.Run,
		cwd:     "/tmp",
		jobDir:  dir,
		stdin:   req.Input,
		limits:  r.cfg.RunLimits,
		timeout: r.cfg.RunTimeout,
	}, td)
	if err != nil {
		return Result{}, err
	}
	res.Status = x.classify()
	res.Stdout, res.Stderr = x.stdout, x.stderr
	res.StdoutTruncated, res.StderrTruncated = x.stdoutTruncated, x.stderrTruncated
	res.ExitCode, res.Signal = x.exitCode, x.signal
	res.Time = x.elapsed
	res.CPUTime = time.Duration(x.stats.CPUTimeNanos)
	res.MemoryPeakBytes = x.stats.MemoryPeakBytes
	res.OOMKilled = x.stats.OOMKills > 0
	return res, nil
}

// compileOutput is the compiler's output, with a line saying why the
// compiler was stopped when it did not simply fail.
func compileOutput(c *execution, status Status, cfg Config) string {
	out := c.stdout + c.stderr
	switch status {
	case StatusTimeout:
		out += fmt.Sprintf("\ncompilation stopped: it ran longer than %s\n", cfg.CompileTimeout)
	case StatusMemoryLimitExceeded:
		out += fmt.Sprintf("\ncompilation stopped: the compiler used more than %d MiB\n", cfg.CompileLimits.MemoryBytes>>20)
	case StatusOutputLimitExceeded:
		out += fmt.Sprintf("\ncompilation stopped: the compiler wrote more than %d bytes\n", cfg.OutputBytes)
	}
	return out
}

// newJobDir creates the job directory with the source file in it. The host
// writes the file before any untrusted code runs, then hands the directory
// to the sandbox user; it never opens anything inside it again, it only
// removes it.
func (r *Runner) newJobDir(id string, lang Language, code string) (string, error) {
	dir := filepath.Join(jobsDir(r.cfg), id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("create job directory: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, lang.SourceFile), []byte(code), 0o644); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("write source file: %w", err)
	}
	if err := os.Chown(dir, oci.SandboxUID, oci.SandboxGID); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("hand job directory to the sandbox user: %w", err)
	}
	return dir, nil
}

// removeJobDir deletes the job directory. os.RemoveAll unlinks symbolic
// links instead of following them, so links planted by the program lead
// nowhere.
func (r *Runner) removeJobDir(dir string) {
	if err := os.RemoveAll(dir); err != nil {
		r.log.Error("remove job directory", "dir", dir, "err", err)
	}
}
