// Package runner runs programs in fresh, locked-down sandboxes and reports
// what they did: one run (Run: compile when the language needs it, feed,
// classify), the warm pool of prepared jobs, the sandbox slots and their
// queue, and judge batches (OpenBatch: lanes whose agent forks a fresh
// process per test).
//
// Its API is small: New, Run, OpenBatch, Ready, Close and introspection
// (Runtimes, Stack, QueueDepth, Running, PoolLevels, ExitSources,
// Leftovers). Sandboxes themselves, everything about containerd, are
// package sandbox's: this package says what runs in them and with which
// limits, never how a container is made or removed. Nothing here knows
// about HTTP or judging's verdicts.
package runner
