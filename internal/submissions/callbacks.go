package submissions

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Send delivers a final record's callback and returns the receiver's
// status; a connection that fails (refused, timed out, an address the
// service may not call) is an error.
type Send func(ctx context.Context, rec Record) (int, error)

// queueCallback puts rec's callback in the callbacks' stream, when rec has
// a callback URL. The message is the submission's id; JetStream drops a
// second one within a minute (the message id), and a delivered callback's
// record says so, so a callback queued twice is still delivered once. It
// tries for up to 30 s (persist: a NATS server gone, its streams electing
// a new leader); the caller keeps the submission's message unacknowledged when
// it fails, so that the callback is queued when that message comes back.
func (q *Queue) queueCallback(ctx context.Context, rec Record) error {
	if !rec.callbackPending() {
		return nil
	}
	err := q.persist(30*time.Second, 5*time.Second, func(ctx context.Context) error {
		_, err := q.js.Publish(ctx, callbackSubject, []byte(rec.ID), jetstream.WithMsgID("callback-"+rec.ID))
		return err
	}, nil)
	if err != nil {
		q.log.Error("cannot queue a callback; it is queued when the submission's message comes back", "id", rec.ID, "err", err)
	}
	return err
}

// callbackPending reports whether rec has a callback not yet delivered
// nor given up.
func (rec Record) callbackPending() bool {
	return rec.CallbackURL != "" && (rec.Callback == nil || (rec.Callback.DeliveredAt == nil && !rec.Callback.GaveUp))
}

// Deliver delivers callbacks with send, at most slots at once, until ctx
// ends. A delivery that fails is tried again with exponential backoff and
// jitter until Config.CallbackRetryFor has passed since the submission
// finished; every attempt is recorded on the submission.
func (q *Queue) Deliver(ctx context.Context, slots int, send Send) error {
	q.pull(ctx, q.cbCons, slots, "callbacks", func(msg jetstream.Msg) { q.deliver(msg, send) })
	return nil
}

// deliver makes one attempt at the callback of msg's submission.
func (q *Queue) deliver(msg jetstream.Msg, send Send) {
	ctx := context.WithoutCancel(q.base)
	id := string(msg.Data())
	rec, _, err := q.get(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !rec.callbackPending()) {
		_ = msg.Ack()
		return
	}
	if err == nil {
		err = q.fill(ctx, &rec) // the body sent carries the result
	}
	if err != nil {
		_ = msg.NakWithDelay(q.cfg.CallbackBackoff)
		return
	}
	status, sendErr := send(ctx, rec)
	now := time.Now().UTC()
	ok := sendErr == nil && status >= 200 && status < 300
	if ok {
		q.callbacksSent.Add(1)
	} else {
		q.callbacksMissed.Add(1)
	}
	var attempts int
	var gaveUp bool
	// Record the attempt; the record may change meanwhile (compare-and-set).
	for tries := 0; ; tries++ {
		cur, rev, err := q.get(ctx, id)
		if err != nil {
			break
		}
		cb := cur.Callback
		if cb == nil {
			cb = &CallbackState{}
		}
		cb.Attempts++
		cb.LastStatus, cb.LastError = status, ""
		if sendErr != nil {
			cb.LastError = sendErr.Error()
		}
		if ok {
			cb.DeliveredAt = &now
		} else if finished := cur.FinishedAt; finished != nil && now.Sub(*finished) >= q.cfg.CallbackRetryFor {
			cb.GaveUp = true
		}
		cur.Callback = cb
		attempts, gaveUp = cb.Attempts, cb.GaveUp
		if err := q.put(ctx, cur, rev); err == nil || !conflict(err) || tries > 10 {
			if err != nil {
				q.log.Warn("cannot record a callback attempt", "id", id, "err", err)
			}
			break
		}
	}
	switch {
	case ok:
		_ = msg.Ack()
	case gaveUp:
		q.log.Warn("callback given up", "id", id, "attempts", attempts, "status", status, "err", sendErr)
		_ = msg.Ack()
	default:
		delay := q.backoff(attempts)
		q.log.Info("callback failed; trying again", "id", id, "attempt", attempts, "status", status, "err", sendErr, "in", delay)
		_ = msg.NakWithDelay(delay)
	}
}

// backoff is the wait after the n-th failed attempt: CallbackBackoff
// doubled each time up to CallbackMaxBackoff, then ±20 % of jitter so that
// callbacks failing together do not come back together.
func (q *Queue) backoff(n int) time.Duration {
	d := q.cfg.CallbackBackoff
	for i := 1; i < n && d < q.cfg.CallbackMaxBackoff; i++ {
		d *= 2
	}
	d = min(d, q.cfg.CallbackMaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}
