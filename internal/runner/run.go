package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/language"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/google/uuid"
	"golang.org/x/sys/unix"
)

// Run compiles (when the language needs it) and runs req.Code in fresh
// sandboxes and returns what happened. A program that fails is a Result with
// a nil error; errors are the service's own: ErrUnknownLanguage, ErrBusy,
// ErrUnavailable, context cancellation, or an infrastructure fault.
//
// The sandboxes come from the warm pool when one is ready, and are created
// on the spot otherwise; either way they serve this run only. Every process
// of the run is dead when Run returns, whatever happened (including ctx
// being cancelled because the client went away); the containers, snapshots,
// FIFOs and job directory are removed right after, in the background, and
// Wait and Close wait for that.
func (r *Runner) Run(ctx context.Context, req Request) (Result, error) {
	lang, ok := r.language(req.Language)
	if !ok {
		return Result{}, fmt.Errorf("%w: %q", ErrUnknownLanguage, req.Language)
	}
	lim, err := r.limitsFor(req.Limits)
	if err != nil {
		return Result{}, err
	}
	for name := range req.Files {
		if !language.PlainName(name) || name == lang.SourceFile {
			return Result{}, fmt.Errorf("%w: file name %q must be a plain file name other than the source's", ErrInvalidRequest, name)
		}
	}
	if r.sb.Down() {
		return Result{}, fmt.Errorf("%w: containerd is not answering", ErrUnavailable)
	}
	res, err := r.runJob(ctx, lang, lim, req)
	return res, r.noteDown(err)
}

// runJob is Run once the request is checked.
func (r *Runner) runJob(ctx context.Context, lang Language, lim effective, req Request) (Result, error) {

	queued := time.Now()
	release, err := r.acquire(ctx)
	if err != nil {
		return Result{}, err
	}
	var res Result
	res.QueueTime = time.Since(queued)

	prepStart := time.Now()
	var j *job
	warm := false
	if r.poolable(lim) && len(req.Args) == 0 {
		j, warm = r.pools.Take(lang.Name)
	}
	if !warm {
		j, err = r.newJob(ctx, lang, false, lim, req.Args...)
		if err != nil {
			release()
			return Result{}, err
		}
		res.PrepareTime = time.Since(prepStart)
	}
	res.ID = j.id
	res.Warm = warm
	// Teardown runs after Run returns, so the client does not wait for it;
	// the slot is held until it is done, so cleanup counts against the
	// concurrency limit.
	r.pending.Add(1)
	defer func() {
		go func() {
			defer r.pending.Done()
			defer release()
			j.destroy(r)
		}()
	}()

	if err := j.writeSource(req.Code); err != nil {
		return Result{}, err
	}
	for name, body := range req.Files {
		if err := writeNew(filepath.Join(j.dir, name), body); err != nil {
			return Result{}, fmt.Errorf("write program file: %w", err)
		}
	}
	if j.src != nil {
		j.run.SetFeed(func() error { return j.feedSource(req.Code) })
	}

	j.run.SetLimits(lim.runTimeout, lim.output)
	if j.compile != nil {
		bd, err := r.compile(ctx, j.compile, lim)
		if err != nil {
			return Result{}, err
		}
		res.CompileTime, res.CompileOutput = bd.Time, bd.Output
		if bd.Status != StatusSuccess {
			res.Status = StatusCompileError
			res.ExitCode, res.Signal = bd.ExitCode, bd.Signal
			return res, nil
		}
	}

	x, err := r.sb.Run(ctx, j.run, req.Input)
	if err != nil {
		return Result{}, err
	}
	out := result(x)
	out.ID, out.Warm, out.QueueTime, out.PrepareTime = res.ID, res.Warm, res.QueueTime, res.PrepareTime
	out.CompileTime, out.CompileOutput = res.CompileTime, res.CompileOutput
	return out, nil
}

// compile runs a compile sandbox and says how the build went: a compiler
// that fails, or is stopped by a limit, is a Build with StatusCompileError
// and a nil error.
func (r *Runner) compile(ctx context.Context, c *sandbox.Sandbox, lim effective) (Build, error) {
	c.SetLimits(lim.compileTimeout, lim.output)
	x, err := r.sb.Run(ctx, c, "")
	if err != nil {
		return Build{}, err
	}
	bd := Build{Status: StatusSuccess, Output: x.Stdout + x.Stderr, Time: x.Elapsed}
	if status := classify(x); status != StatusSuccess {
		bd.Status = StatusCompileError
		bd.Output = compileOutput(x, status, lim)
		bd.ExitCode, bd.Signal = x.ExitCode, x.Signal
	}
	return bd, nil
}

// compileOutput is the compiler's output, with a line saying why the
// compiler was stopped when it did not simply fail.
func compileOutput(c *sandbox.Execution, status Status, lim effective) string {
	out := c.Stdout + c.Stderr
	switch status {
	case StatusTimeout:
		out += fmt.Sprintf("\ncompilation stopped: it ran longer than %s\n", lim.compileTimeout)
	case StatusMemoryLimitExceeded:
		out += fmt.Sprintf("\ncompilation stopped: the compiler used more than %d MiB\n", lim.compile.MemoryBytes>>20)
	case StatusOutputLimitExceeded:
		out += fmt.Sprintf("\ncompilation stopped: the compiler wrote more than %d bytes\n", lim.output)
	}
	return out
}

// job is everything one run needs: a job directory and the sandboxes that
// mount it (a compile sandbox for compiled languages, and a run sandbox),
// all prepared and waiting. A job serves exactly one run.
type job struct {
	id      string
	lang    Language
	dir     string
	compile *sandbox.Sandbox // nil for interpreted languages
	run     *sandbox.Sandbox
	src     *os.File // write end of the source FIFO of a prestarted run
	created time.Time
}

// newJob creates the job directory and prepares the job's sandboxes. A
// pooled job of a Prestart language gets its source file as a FIFO and its
// run sandbox started, so the interpreter is up and waiting for the code
// before the request arrives. On error nothing of it remains.
func (r *Runner) newJob(ctx context.Context, lang Language, pooled bool, lim effective, args ...string) (_ *job, retErr error) {
	j := &job{id: uuid.NewString(), lang: lang, created: time.Now()}
	j.dir = filepath.Join(jobsDir(r.cfg), j.id)
	if err := os.Mkdir(j.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create job directory: %w", err)
	}
	defer func() {
		if retErr != nil {
			j.destroy(r)
		}
	}()
	// The directory belongs to the sandbox user: the compiler writes into it.
	if err := os.Chown(j.dir, oci.SandboxUID, oci.SandboxGID); err != nil {
		return nil, fmt.Errorf("hand job directory to the sandbox user: %w", err)
	}
	var err error
	if lang.Compiled() {
		j.compile, err = r.sb.Prepare(ctx, sandbox.Spec{
			ID:       j.id + "-compile",
			Job:      j.id,
			Image:    lang.Name,
			Args:     lang.Compile,
			Cwd:      oci.JobMountPoint,
			JobDir:   j.dir,
			Writable: true, // the compiler writes the binary next to the source
			Limits:   lim.compile,
			Timeout:  lim.compileTimeout,
		})
		if err != nil {
			return nil, err
		}
	}
	prestart := pooled && lang.Prestart
	if prestart {
		// The interpreter opens its script at start-up: as a FIFO, that open
		// blocks until the request writes the code.
		fifo := filepath.Join(j.dir, lang.SourceFile)
		if err := unix.Mkfifo(fifo, 0o644); err != nil {
			return nil, fmt.Errorf("create source FIFO: %w", err)
		}
		// Explicitly, whatever the service's umask: the sandbox user reads it.
		if err := os.Chmod(fifo, 0o644); err != nil {
			return nil, fmt.Errorf("create source FIFO: %w", err)
		}
	}
	j.run, err = r.sb.Prepare(ctx, sandbox.Spec{
		ID:       j.id + "-run",
		Job:      j.id,
		Image:    lang.Name,
		Args:     append(slices.Clone(lang.Run), args...),
		Prestart: prestart,
		Cwd:      "/tmp",
		JobDir:   j.dir,
		Limits:   lim.run,
		Timeout:  lim.runTimeout,
	})
	if err != nil {
		return nil, err
	}
	if prestart {
		if j.src, err = openFIFOWriter(ctx, filepath.Join(j.dir, lang.SourceFile)); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// openFIFOWriter opens the write end of the source FIFO once the
// prestarted interpreter has opened its read end. Holding it open lets the
// interpreter's open return, so it then blocks reading its script with all
// of its start-up behind it. O_NONBLOCK makes the open fail (ENXIO) instead
// of hanging while the interpreter is still starting; O_NOFOLLOW refuses a
// link.
func openFIFOWriter(ctx context.Context, path string) (*os.File, error) {
	ctx, cancel := context.WithTimeout(ctx, sandbox.CleanupTimeout)
	defer cancel()
	for {
		f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW, 0)
		if err == nil {
			return f, nil
		}
		if !errors.Is(err, syscall.ENXIO) {
			return nil, fmt.Errorf("open source FIFO: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// alive reports whether every sandbox of the job can still be used.
func (j *job) alive() bool {
	return (j.compile == nil || j.compile.Alive()) && j.run.Alive()
}

// writeSource writes the program into the job directory. It happens before
// any untrusted code ran in the job's sandboxes (a prestarted interpreter
// is still waiting for its code), and O_EXCL|O_NOFOLLOW refuse anything in
// the way. For a prestarted job the file replaces the source FIFO by
// rename: the interpreter keeps reading the FIFO it opened, while anything
// that opens the path later (a traceback showing source lines) finds the
// code. After this the host never opens a path inside the directory
// again; it only removes it.
func (j *job) writeSource(code string) error {
	name := filepath.Join(j.dir, j.lang.SourceFile)
	tmp := name
	if j.src != nil {
		tmp = filepath.Join(j.dir, ".source")
	}
	if err := writeNew(tmp, code); err != nil {
		return fmt.Errorf("write source file: %w", err)
	}
	if tmp != name {
		if err := os.Rename(tmp, name); err != nil {
			return fmt.Errorf("replace source FIFO: %w", err)
		}
	}
	return nil
}

// writeNew creates the file name, which must not exist (O_EXCL, and
// O_NOFOLLOW refuses a link in its place), readable by the sandbox user
// whatever the service's umask, and writes body to it.
func writeNew(name, body string) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(body); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// feedSource writes the program into the source FIFO the prestarted
// interpreter is reading, and closes it: the interpreter reads to EOF and
// runs the program as its script.
func (j *job) feedSource(code string) error {
	_, err := j.src.WriteString(code)
	if cerr := j.src.Close(); err == nil {
		err = cerr
	}
	return err
}

// destroy removes the job's sandboxes, then its directory: os.RemoveAll
// unlinks symbolic links instead of following them, so links planted by a
// program lead nowhere.
func (j *job) destroy(r *Runner) {
	if j.src != nil {
		j.src.Close() // an unused pooled job: the interpreter reads EOF
	}
	if j.compile != nil {
		r.sb.Destroy(j.compile)
	}
	if j.run != nil {
		r.sb.Destroy(j.run)
	}
	if err := os.RemoveAll(j.dir); err != nil {
		r.log.Error("remove job directory", "dir", j.dir, "err", err)
	}
}
