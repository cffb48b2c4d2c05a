package method

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/codeexec/codeexec/internal/bench/report"
	"github.com/codeexec/codeexec/internal/runner"
)

// docker runs programs with `docker run --rm` and the flags of the original
// Docker-based design: no network, no capabilities, read-only root, 256 MiB,
// one CPU, 64 pids, a non-root user. C++ is two runs: compile, then run.
type docker struct {
	bin   string
	work  string
	langs map[string]runner.Language
	ctr   []string // ctr with its socket and namespace flags, to export images; nil for none
}

// NewDocker returns the docker method: docker with job directories under
// work and the languages' images; ctr, when set (with its socket and
// namespace flags), exports images the engine lacks.
func NewDocker(bin, work string, langs map[string]runner.Language, ctr []string) *Docker {
	return &Docker{&docker{bin: bin, work: work, langs: langs, ctr: ctr}}
}

// Docker is the docker method, with what preparing it needs.
type Docker struct{ *docker }

// EnsureImage makes image available to the engine when it lacks it (see
// ensureImage).
func (d *Docker) EnsureImage(ctx context.Context, image, archive string) error {
	return d.ensureImage(ctx, image, archive)
}

// dockerUser is the non-root user of the original design's `docker run`.
const dockerUser = "1000:1000"

// dockerRun is one container of a docker method run.
type dockerRun struct {
	id, image, jobDir string
	writable          bool
	memory            string // docker's --memory, e.g. "256m"
	argv              []string
}

// DockerReady returns nil when a Docker engine answers, and otherwise why
// the docker method is skipped.
func DockerReady(ctx context.Context, bin string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if _, err := RunCommand(ctx, "", "", bin, "info"); err != nil {
		return fmt.Errorf("no engine reachable")
	}
	return nil
}

// ensureImage makes image available to the engine when it lacks it:
// loading the OCI archive <imagesDir>/<lang>.tar (as scripts/images.sh
// writes them), which engines before 25.0 cannot read, and failing that an
// export of the image from containerd by `ctr images export`, which adds the
// manifest.json older engines need.
func (d *docker) ensureImage(ctx context.Context, image, archive string) error {
	if _, err := RunCommand(ctx, d.work, "", d.bin, "image", "inspect", image); err == nil {
		return nil
	}
	_, loadErr := RunCommand(ctx, d.work, "", d.bin, "load", "-i", archive)
	if loadErr != nil && d.ctr != nil {
		exported := filepath.Join(d.work, "docker-image.tar")
		defer os.Remove(exported)
		args := append(d.ctr, "images", "export", exported, image)
		if _, err := RunCommand(ctx, d.work, "", args...); err != nil {
			return fmt.Errorf("image %s is missing; loading %s failed (%w) and exporting it from containerd failed: %w", image, archive, loadErr, err)
		}
		_, loadErr = RunCommand(ctx, d.work, "", d.bin, "load", "-i", exported)
	}
	if loadErr != nil {
		return fmt.Errorf("image %s is missing and loading %s failed: %w", image, archive, loadErr)
	}
	if _, err := RunCommand(ctx, d.work, "", d.bin, "image", "inspect", image); err != nil {
		return fmt.Errorf("image %s is still missing after loading %s", image, archive)
	}
	return nil
}

func (d *docker) Name() string { return report.MethodDocker }

func (d *docker) Run(ctx context.Context, p Program) Outcome {
	lang, ok := d.langs[p.Language]
	if !ok {
		return Outcome{Err: fmt.Errorf("docker: unknown language %q", p.Language)}
	}
	dir, err := newJobDir(d.work, p, 0o777)
	if err != nil {
		return Outcome{Err: err}
	}
	defer os.RemoveAll(dir)
	start := time.Now()
	if lang.Compiled() {
		r := dockerRun{id: uniqueID("bench-docker"), image: lang.Image, jobDir: dir, writable: true, memory: "512m", argv: lang.Compile}
		if _, err := d.run(ctx, r, ""); err != nil {
			return Outcome{Elapsed: time.Since(start), Err: fmt.Errorf("compile: %w", err)}
		}
	}
	r := dockerRun{id: uniqueID("bench-docker"), image: lang.Image, jobDir: dir, memory: "256m", argv: lang.Run}
	out, err := d.run(ctx, r, p.Input)
	return Outcome{Elapsed: time.Since(start), Stdout: out, Err: err}
}

func (d *docker) run(ctx context.Context, r dockerRun, stdin string) (string, error) {
	out, err := RunCommand(ctx, d.work, stdin, d.args(r)...)
	if err != nil {
		rctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_, _ = RunCommand(rctx, d.work, "", d.bin, "rm", "-f", r.id)
	}
	return out, err
}

// args is the docker command line of r. The image's entrypoint is replaced
// by r.argv[0], so the command is exactly the service's (tini first).
func (d *docker) args(r dockerRun) []string {
	mount := r.jobDir + ":/job:ro"
	if r.writable {
		mount = r.jobDir + ":/job"
	}
	args := []string{d.bin, "run", "--rm", "-i", "--name", r.id,
		"--network", "none", "--cap-drop", "ALL", "--read-only",
		"--memory", r.memory, "--cpus", "1", "--pids-limit", "64", "--user", dockerUser,
		"--tmpfs", "/tmp:rw,nosuid,nodev,size=64m", "-v", mount, "-w", "/tmp",
		"--label", "dev.codeexec.bench=docker",
		"--entrypoint", r.argv[0], r.image}
	return append(args, r.argv[1:]...)
}

// ImageArchive is where scripts/images.sh leaves the OCI archive of lang.
func ImageArchive(imagesDir, lang string) string {
	return filepath.Join(imagesDir, lang+".tar")
}
