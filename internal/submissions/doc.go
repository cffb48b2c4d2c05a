// Package submissions keeps asynchronous submissions on NATS JetStream:
// a work-queue stream of submissions waiting to run, a key-value bucket
// of their records (status, timestamps, attempts, result), and the
// workers that pull from the stream as many submissions as they have
// free slots.
//
// It knows nothing of HTTP or containerd: a submission's body is opaque
// bytes that the caller's Exec function runs (the API replays it as a
// POST /run or /judge), and what Exec answers is stored as the result.
//
// The guarantees, and how they are kept:
//   - A submission is stored before Submit returns: its record in the
//     bucket, then its message in the stream (both acknowledged by
//     JetStream).
//   - A worker marks progress on the message while the submission runs,
//     so a long judgement is not handed to another worker; a worker that
//     dies stops marking progress and the message is redelivered after
//     AckWait.
//   - A record changes only by compare-and-set on its revision, and a
//     worker acknowledges a message only after the result is stored. A
//     submission whose record is final (done, cancelled, failed) is never
//     run again: a redelivered message is acknowledged and dropped, and of
//     two workers that ran the same submission (one too slow to mark
//     progress) only the first result is stored.
//
// One machine runs an embedded NATS server (no network port unless asked,
// file storage under the state directory); a fleet points every node at a
// NATS cluster. The engine is the same.
package submissions
