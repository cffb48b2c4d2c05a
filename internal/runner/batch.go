package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/codeexec/codeexec/internal/oci"
	"github.com/codeexec/codeexec/internal/runner/lane"
	"github.com/codeexec/codeexec/internal/runner/language"
	"github.com/codeexec/codeexec/internal/runner/sandbox"
	"github.com/google/uuid"
)

// Program is one program of a batch: built once, then run many times.
type Program struct {
	Language string
	Code     string
	Limits   Limits // memory and pids hold for every run; timeout and output are each run's default
	// Files are written beside the source before the build, by plain
	// name: a program's headers and data (a Kattis validator's validate.h).
	Files map[string]string
	// Feedback gives each run a writable feedback directory, read back
	// into Result.Feedback: a Kattis output validator's (lane.Program).
	Feedback bool
	// KeepProducts returns what the build made (Build.Products).
	KeepProducts bool
	// Products, when set and built on the language's image as it is now
	// (ProductsImage, its digest), are written into the job directory
	// instead of building again: a problem's validator is built once.
	Products      map[string]string
	ProductsImage string
}

// Build says how building one program of a batch went. Interpreted
// languages always build.
type Build struct {
	Status   Status // StatusSuccess, or StatusCompileError
	Output   string // the compiler's output
	Time     time.Duration
	ExitCode *int
	Signal   string
	// Products are the files the build made (Program.KeepProducts), and
	// Image the digest of the image it ran on.
	Products map[string]string
	Image    string
}

// BatchRun is one run of a batch's program.
type BatchRun struct {
	Input       string            // the program's stdin, then EOF
	Args        []string          // appended to the language's run command
	Files       map[string]string // written, read-only, into oci.DataMountPoint before the run
	Timeout     time.Duration     // 0: the program's timeout
	OutputBytes int               // 0: the program's output cap
}

// Batch is a set of programs built once and run many times, each run a
// fresh process that sees nothing any earlier run left (see OpenBatch). A
// batch has one or more lanes; each lane runs one run of each program at a
// time, and different lanes run in parallel. It belongs to one request.
type Batch interface {
	// Lanes returns how many runs of one program may go at once.
	Lanes() int
	// Run runs program prog (its index in OpenBatch's list) in lane.
	// Like Runner.Run, a program that fails is a Result and a nil error.
	Run(ctx context.Context, lane, prog int, in BatchRun) (Result, error)
	// Converse runs programs a and b in lane at once, the stdout of each
	// the stdin of the other (their Input is ignored): an interactive
	// problem's submission and validator (lane.Converse). With record > 0,
	// up to record bytes of what they said are kept (Conversation.Said).
	Converse(ctx context.Context, lane, a, b int, inA, inB BatchRun, record int) (Conversation, error)
	// Close kills and removes everything of the batch, in the background
	// (Runner.Wait waits for it), and frees its sandbox slots.
	Close()
}

// Conversation is how the two sides of a conversation went.
type Conversation struct {
	A, B   Result
	BFirst bool // b's first process ended before a's
	// Said is what they said, when recorded: lines of a marked ">", of b
	// "<", as the Kattis format's .interaction files.
	Said          string
	SaidTruncated bool
}

// DataDir is where a batch run finds its BatchRun.Files, read-only.
const DataDir = oci.DataMountPoint

// ErrInvalidBatch is returned for a batch request that cannot work.
var ErrInvalidBatch = errors.New("invalid batch")

// OpenBatch builds each program in a fresh sandbox (compiled languages
// compile; a program that does not compile yields a Build with
// StatusCompileError and no Batch), then prepares up to lanes lanes. The
// first lane waits for sandbox slots like Run; further lanes are added
// only as far as slots are free at once.
//
// Each lane holds one sandbox per program with the program's limits: a
// fresh container whose init is the lane agent (Config.LaneAgent,
// internal/laneagent), which starts every run as a new process when the
// runner asks. After each run the runner kills every process of the run,
// empties /tmp, /dev/shm and /dev/mqueue, removes every System V IPC object
// of the sandbox's IPC namespace and checks that the agent's inheritable
// state is what it was, so no run sees what an earlier one left; the
// lane's sandbox is replaced whenever that cleanup cannot be done. Where
// the service does not see the host's process IDs (a container of its own
// without the host's PID namespace), where it has no lane agent, or when
// Config.BatchFreshSandboxes is set, each run gets a fresh sandbox instead,
// at the cost of a container per run.
func (r *Runner) OpenBatch(ctx context.Context, progs []Program, lanes int) (_ Batch, _ []Build, retErr error) {
	if len(progs) == 0 || lanes < 1 {
		return nil, nil, fmt.Errorf("%w: a batch needs a program and a lane", ErrInvalidBatch)
	}
	b := &batch{r: r}
	for _, p := range progs {
		lang, ok := r.language(p.Language)
		if !ok {
			return nil, nil, fmt.Errorf("%w: %q", ErrUnknownLanguage, p.Language)
		}
		lim, err := r.limitsFor(p.Limits)
		if err != nil {
			return nil, nil, err
		}
		for name := range p.Files {
			if !language.PlainName(name) || name == lang.SourceFile {
				return nil, nil, fmt.Errorf("%w: file name %q must be a plain file name other than the source's", ErrInvalidBatch, name)
			}
		}
		bp := &batchProgram{id: uuid.NewString(), lang: lang, lim: lim, code: p.Code,
			files: p.Files, feedback: p.Feedback, keep: p.KeepProducts, image: r.sb.ImageDigest(p.Language)}
		if p.Products != nil && p.ProductsImage == bp.image && bp.image != "" {
			bp.products = p.Products
		}
		if !r.cfg.ExecEveryTest {
			bp.fork = lang.Fork
		}
		b.progs = append(b.progs, bp)
	}
	if r.sb.Down() {
		return nil, nil, fmt.Errorf("%w: containerd is not answering", ErrUnavailable)
	}
	release, err := r.acquireN(ctx, len(progs))
	if err != nil {
		return nil, nil, err
	}
	b.releases = append(b.releases, release)
	r.pending.Add(1) // until Close's teardown is done
	defer func() {
		if retErr != nil || b.lanes == nil {
			b.Close()
		}
	}()

	builds := make([]Build, len(b.progs))
	errs := make([]error, len(b.progs))
	var wg sync.WaitGroup
	for i, p := range b.progs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			builds[i], errs[i] = r.buildProgram(ctx, p)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, r.noteDown(err)
	}
	for _, bd := range builds {
		if bd.Status != StatusSuccess {
			return nil, builds, nil
		}
	}

	fresh := r.cfg.BatchFreshSandboxes || r.lanes.Agent == ""
	for n := 0; n < lanes; n++ {
		if n > 0 {
			release, ok := r.tryAcquireN(len(progs))
			if !ok {
				break
			}
			b.releases = append(b.releases, release)
		}
		row := make([]*lane.Lane, len(b.progs))
		for i, p := range b.progs {
			row[i] = lane.New(r.lanes, p.lane(), n, fresh)
		}
		b.lanes = append(b.lanes, row)
		if err := b.prepareRow(ctx, row); err != nil {
			return nil, nil, r.noteDown(err)
		}
		// The first lane tells whether runs can be started in its sandbox.
		if n == 0 && !fresh && !row[0].HostPids() {
			r.log.Warn("batch runs get a fresh sandbox each: the service does not see the host's process IDs")
			fresh = true
			for _, l := range row {
				l.MakeFresh()
			}
		}
	}
	return b, builds, nil
}

// noteDown has the sandbox manager ask containerd whether it is down
// when err says the runtime was unavailable, and returns err.
func (r *Runner) noteDown(err error) error { return r.sb.NoteDown(err) }

// batch implements Batch.
type batch struct {
	r         *Runner
	progs     []*batchProgram
	lanes     [][]*lane.Lane // [lane][program]
	releases  []func()
	closeOnce sync.Once
}

// batchProgram is one built program of a batch.
type batchProgram struct {
	id   string // job UUID
	lang Language
	lim  effective
	code string
	dir  string // job directory: the source and what the compiler made

	files    map[string]string // written beside the source
	feedback bool
	keep     bool              // return the build's products
	products map[string]string // written instead of building
	image    string            // the language's image digest
	fork     string            // the forking parent its lanes fork tests from; "" for none
}

// lane is the program as its lanes run it.
func (p *batchProgram) lane() *lane.Program {
	return &lane.Program{ID: p.id, Image: p.lang.Name, Run: p.lang.Run, Dir: p.dir,
		Limits: p.lim.run, Timeout: p.lim.runTimeout, Output: p.lim.output, Feedback: p.feedback, Fork: p.fork}
}

func (b *batch) Lanes() int { return len(b.lanes) }

// prepareRow starts the sandboxes of one lane, one per program, at once.
func (b *batch) prepareRow(ctx context.Context, row []*lane.Lane) error {
	errs := make([]error, len(row))
	var wg sync.WaitGroup
	for i, l := range row {
		if l.Fresh() {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.Start(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (b *batch) Run(ctx context.Context, n, prog int, in BatchRun) (Result, error) {
	if n < 0 || n >= len(b.lanes) || prog < 0 || prog >= len(b.progs) {
		return Result{}, fmt.Errorf("%w: no lane %d, program %d", ErrInvalidBatch, n, prog)
	}
	for name := range in.Files {
		if !language.PlainName(name) {
			return Result{}, fmt.Errorf("%w: file name %q must be a plain file name", ErrInvalidBatch, name)
		}
	}
	out, err := b.lanes[n][prog].Run(ctx, lane.Input{Stdin: in.Input, Args: in.Args, Files: in.Files,
		Timeout: in.Timeout, OutputBytes: in.OutputBytes})
	if err != nil {
		return Result{}, b.r.noteDown(err)
	}
	res := result(out.Execution)
	res.ID, res.PrepareTime, res.Feedback = out.ID, out.PrepareTime, out.Feedback
	return res, nil
}

func (b *batch) Converse(ctx context.Context, n, pa, pb int, inA, inB BatchRun, record int) (Conversation, error) {
	if n < 0 || n >= len(b.lanes) || pa < 0 || pa >= len(b.progs) || pb < 0 || pb >= len(b.progs) || pa == pb {
		return Conversation{}, fmt.Errorf("%w: no lane %d, programs %d and %d", ErrInvalidBatch, n, pa, pb)
	}
	in := func(r BatchRun) lane.Input {
		return lane.Input{Args: r.Args, Files: r.Files, Timeout: r.Timeout, OutputBytes: r.OutputBytes}
	}
	oa, ob, said, err := lane.Converse(ctx, b.lanes[n][pa], b.lanes[n][pb], in(inA), in(inB), record)
	if err != nil {
		return Conversation{}, b.r.noteDown(err)
	}
	c := Conversation{A: result(oa.Execution), B: result(ob.Execution), BFirst: lane.BFirst(oa, ob, said),
		Said: said.Text, SaidTruncated: said.Truncated}
	c.A.ID, c.B.ID, c.B.Feedback = oa.ID, ob.ID, ob.Feedback
	return c, nil
}

func (b *batch) Close() {
	b.closeOnce.Do(func() {
		go func() {
			defer b.r.pending.Done()
			for _, row := range b.lanes {
				for _, l := range row {
					l.Destroy()
				}
			}
			for _, p := range b.progs {
				if p.dir != "" {
					if err := os.RemoveAll(p.dir); err != nil {
						b.r.log.Error("remove job directory", "dir", p.dir, "err", err)
					}
				}
			}
			for _, release := range b.releases {
				release()
			}
		}()
	})
}

// buildProgram creates the program's job directory, writes its source and,
// for a compiled language, compiles it in a compile sandbox of its own,
// removed before it returns.
func (r *Runner) buildProgram(ctx context.Context, p *batchProgram) (Build, error) {
	dir := filepath.Join(jobsDir(r.cfg), p.id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return Build{}, fmt.Errorf("create job directory: %w", err)
	}
	p.dir = dir
	// The directory belongs to the sandbox user: the compiler writes into it.
	if err := os.Chown(dir, oci.SandboxUID, oci.SandboxGID); err != nil {
		return Build{}, fmt.Errorf("hand job directory to the sandbox user: %w", err)
	}
	j := &job{id: p.id, lang: p.lang, dir: dir}
	if err := j.writeSource(p.code); err != nil {
		return Build{}, err
	}
	for name, body := range p.files {
		if err := writeNew(filepath.Join(dir, name), body); err != nil {
			return Build{}, fmt.Errorf("write program file: %w", err)
		}
	}
	if !p.lang.Compiled() {
		return Build{Status: StatusSuccess}, nil
	}
	if p.products != nil {
		for name, body := range p.products {
			if err := writeNew(filepath.Join(dir, name), body); err != nil {
				return Build{}, fmt.Errorf("write build product: %w", err)
			}
			if err := os.Chmod(filepath.Join(dir, name), 0o755); err != nil {
				return Build{}, fmt.Errorf("write build product: %w", err)
			}
		}
		return Build{Status: StatusSuccess, Image: p.image}, nil
	}
	c, err := r.sb.Prepare(ctx, sandbox.Spec{
		ID: p.id + "-compile", Job: p.id, Image: p.lang.Name, Args: p.lang.Compile,
		Cwd: oci.JobMountPoint, JobDir: dir, Writable: true,
		Limits: p.lim.compile, Timeout: p.lim.compileTimeout,
	})
	if err != nil {
		return Build{}, err
	}
	defer r.sb.Destroy(c)
	b, err := r.compile(ctx, c, p.lim)
	if err == nil && b.Status == StatusSuccess && p.keep {
		b.Image = p.image
		b.Products, err = products(dir, p)
	}
	return b, err
}

// maxProducts bounds what a build's products may weigh to be kept.
const maxProducts = 64 << 20

// products reads what a build made in its job directory: every regular
// file but the source and the files given, without following links (the
// compiler ran as the sandbox user in that directory).
func products(dir string, p *batchProgram) (map[string]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read build products: %w", err)
	}
	out, total := map[string]string{}, 0
	for _, e := range entries {
		name := e.Name()
		if _, given := p.files[name]; given || name == p.lang.SourceFile || !e.Type().IsRegular() {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, fmt.Errorf("read build product: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxProducts+1-int64(total)))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read build product: %w", err)
		}
		if total += len(b); total > maxProducts {
			return nil, fmt.Errorf("%w: the build made more than %d bytes", ErrInvalidBatch, maxProducts)
		}
		out[name] = string(b)
	}
	return out, nil
}
