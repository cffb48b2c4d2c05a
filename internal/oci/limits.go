package oci

import (
	"errors"
	"fmt"
)

// Defaults of the run phase, those of the original design.
const (
	DefaultCPUs          = 1.0
	DefaultMemoryBytes   = 256 << 20
	DefaultPids          = 64
	DefaultFileSizeBytes = 64 << 20
	DefaultOpenFiles     = 256
	DefaultTmpBytes      = 64 << 20
	DefaultTmpInodes     = 4096

	// SandboxUID and SandboxGID are the identity every sandboxed process runs
	// as, whatever USER the image names.
	SandboxUID = 10001
	SandboxGID = 10001
)

// Limits are the resource caps of one sandbox.
type Limits struct {
	CPUs          float64 // CFS quota in cores
	MemoryBytes   int64   // memory cgroup limit; swap is capped to the same value
	Pids          int64   // pids cgroup limit; threads count
	FileSizeBytes uint64  // RLIMIT_FSIZE: the largest file a process may write
	OpenFiles     uint64  // RLIMIT_NOFILE
	TmpBytes      int64   // size of the tmpfs at /tmp, charged to the memory cgroup
	TmpInodes     int64   // inode cap of the tmpfs at /tmp
}

// DefaultLimits returns the limits of the original design: 1 CPU, 256 MiB, 64 pids.
func DefaultLimits() Limits {
	return Limits{
		CPUs:          DefaultCPUs,
		MemoryBytes:   DefaultMemoryBytes,
		Pids:          DefaultPids,
		FileSizeBytes: DefaultFileSizeBytes,
		OpenFiles:     DefaultOpenFiles,
		TmpBytes:      DefaultTmpBytes,
		TmpInodes:     DefaultTmpInodes,
	}
}

// Validate reports the first limit that cannot make a working sandbox.
func (l Limits) Validate() error {
	var errs []error
	if l.CPUs < 0.01 || l.CPUs > 64 {
		errs = append(errs, fmt.Errorf("cpus is %g; it must be between 0.01 and 64", l.CPUs))
	}
	if l.MemoryBytes < 16<<20 {
		errs = append(errs, fmt.Errorf("memory is %d bytes; it must be at least 16 MiB (runc alone needs about 10 MiB)", l.MemoryBytes))
	}
	if l.Pids < 2 {
		errs = append(errs, fmt.Errorf("pids is %d; it must be at least 2", l.Pids))
	}
	if l.FileSizeBytes == 0 {
		errs = append(errs, errors.New("file size limit must be above 0"))
	}
	if l.OpenFiles < 16 {
		errs = append(errs, fmt.Errorf("open files is %d; it must be at least 16", l.OpenFiles))
	}
	if l.TmpBytes < 1<<20 {
		errs = append(errs, fmt.Errorf("tmp size is %d bytes; it must be at least 1 MiB", l.TmpBytes))
	}
	if l.TmpInodes < 16 {
		errs = append(errs, fmt.Errorf("tmp inodes is %d; it must be at least 16", l.TmpInodes))
	}
	return errors.Join(errs...)
}
