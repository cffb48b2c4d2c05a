// Package lane runs the tests of a judge request in lanes: one sandbox per
// program and lane, whose init is the lane agent (sandbox/lane/lane.c,
// internal/laneagent), which starts every run as a fresh process. After
// each run it kills what is left of it through the sandbox's cgroup, empties
// the scratch directories, removes every System V IPC object and checks the
// agent's inheritable state, so that no run sees what an earlier one left;
// a lane whose scrub fails gets a fresh sandbox. Where that cannot be done
// (no agent, the service does not see host PIDs), each run gets a sandbox
// of its own.
//
// It uses package sandbox to make and remove sandboxes and package cgroups
// for a run's figures and kills. It must not know about verdicts,
// comparisons or checkers (package judge), nor about sandbox slots, the
// warm pool or languages beyond a program's image and run command (package
// runner, which opens batches of lanes).
package lane
