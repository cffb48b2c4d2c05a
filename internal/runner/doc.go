// Package runner runs one program in a fresh, locked-down containerd
// container and reports what it did.
//
// It owns everything that touches containerd: image checks, containers,
// tasks, their IO, the wall-clock limit and the cleanup that follows every
// run whatever happened. Specs come from package oci. Nothing here knows
// about HTTP.
package runner
