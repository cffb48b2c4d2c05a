// Package sandbox makes, runs and removes sandboxes: one containerd
// container and task per process, from an OCI spec (package oci), in the
// manager's own namespace.
//
// It owns everything about a sandbox's life against containerd: the
// images and their shared read-only roots, the OCI runtime probe (crun or
// runc), shim hosts, a task's IO and output caps, the wall-clock limit and
// the kill, the exit from the kernel's pidfd or from containerd, the
// cgroup figures read after the exit, the teardown that follows whatever
// happened, the janitor that retries a failed one, the reconciliation at
// start-up and the leftover reports.
//
// It must not know what runs inside: no languages' compile and run steps,
// no warm pool, no sandbox slots or queue, no judging, no HTTP. Those are
// package runner's (one run, the pool, the lanes), which uses this one;
// the arrow never points back. Cgroup files are read and written through
// package cgroups, which knows nothing of containerd.
package sandbox
