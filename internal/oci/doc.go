// Package oci composes the OCI runtime spec of a sandbox from a Limits value.
//
// Every option is a small containerd oci.SpecOpts that sets one concern
// (capabilities, network, cgroup limits, mounts) and works on an empty spec, so
// each can be tested alone. Sandbox composes them in the order that matters
// (capabilities before seccomp, because the seccomp profile reads them). The
// package knows nothing about the containerd client or the HTTP API.
package oci
