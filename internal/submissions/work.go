package submissions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// retryDelay is how long a job the service could not run now (busy,
// runtime down) waits before it is delivered again.
const retryDelay = 2 * time.Second

// Work pulls submissions and runs each with exec, at most slots at once,
// until ctx ends; then it stops pulling and returns once the runs in
// flight have ended. Abort ends those runs early: they go back to the
// queue for another node.
func (q *Queue) Work(ctx context.Context, slots int, exec Exec) error {
	sub, err := q.nc.Subscribe(cancelSubject, func(m *nats.Msg) {
		q.mu.Lock()
		stop := q.running[string(m.Data)]
		q.mu.Unlock()
		if stop != nil {
			stop()
		}
	})
	if err != nil {
		return fmt.Errorf("subscribe to cancellations: %w", err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	q.pull(ctx, q.cons, slots, "submissions", func(msg jetstream.Msg) { q.handle(msg, exec) })
	return nil
}

// pull fetches messages from cons one at a time, whenever fewer than slots
// are being handled, and handles each in a goroutine of its own, until ctx
// ends; then it waits for those in flight. A message is fetched only when
// a slot is free, so none waits in a buffer while its ack wait runs out.
func (q *Queue) pull(ctx context.Context, cons jetstream.Consumer, slots int, what string, handle func(jetstream.Msg)) {
	var wg sync.WaitGroup
	defer wg.Wait()
	free := make(chan struct{}, slots)
	for {
		select {
		case free <- struct{}{}:
		case <-ctx.Done():
			return
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			<-free
			if ctx.Err() != nil {
				return
			}
			q.log.Warn("cannot pull "+what+"; trying again", "err", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			continue
		}
		got := false
		for msg := range batch.Messages() {
			got = true
			wg.Go(func() {
				defer func() { <-free }()
				handle(msg)
			})
		}
		if !got {
			<-free
		}
	}
}

// Abort cancels the runs in flight; their submissions go back to the
// queue. For a shutdown that cannot wait for them.
func (q *Queue) Abort() { q.stop() }

// handle runs one message's submission, unless its record says it must
// not run, and stores the result before acknowledging the message.
func (q *Queue) handle(msg jetstream.Msg, exec Exec) {
	ctx := context.WithoutCancel(q.base)
	q.deliveries.Add(1)
	if md, err := msg.Metadata(); err == nil && md.NumDelivered > 1 {
		q.redeliveries.Add(1)
	}
	var j Job
	if err := json.Unmarshal(msg.Data(), &j); err != nil {
		q.log.Error("dropping a message that is not a submission", "err", err)
		_ = msg.Term()
		return
	}
	rec, rev, err := q.get(ctx, j.ID)
	if errors.Is(err, ErrNotFound) {
		// Expired, or its Submit failed half-way: nobody waits for it.
		q.dropBody(j)
		_ = msg.Ack()
		return
	}
	if err != nil {
		q.log.Warn("cannot read a submission's record; it will be delivered again", "id", j.ID, "err", err)
		_ = msg.NakWithDelay(retryDelay)
		return
	}
	if rec.Status.Final() {
		// Its callback may not have been queued, if the node that stored
		// the result died in between, or could not reach the stream.
		if err := q.queueCallback(ctx, rec); err != nil {
			_ = msg.NakWithDelay(retryDelay)
			return
		}
		_ = msg.Ack()
		return
	}
	now := time.Now().UTC()
	if rec.Attempts >= q.cfg.MaxAttempts {
		rec.Status, rec.FinishedAt = Failed, &now
		rec.Error = errorJSON(fmt.Sprintf("given up after %d attempts: each ended with its node gone", rec.Attempts))
		q.finish(msg, j, rec, rev)
		return
	}
	if j.Stored {
		if j.Body, err = q.bodies.GetBytes(ctx, j.ID); err != nil {
			q.log.Warn("cannot read a submission's stored body; it will be delivered again", "id", j.ID, "err", err)
			_ = msg.NakWithDelay(retryDelay)
			return
		}
	}
	rec.Status, rec.StartedAt, rec.Node = Running, &now, q.cfg.Node
	rec.Attempts++
	rev, err = q.putRev(ctx, rec, rev)
	if err != nil {
		// Cancelled or changed meanwhile: look again later.
		_ = msg.NakWithDelay(100 * time.Millisecond)
		return
	}

	runCtx, cancel := context.WithCancel(q.base)
	defer cancel()
	q.mu.Lock()
	q.running[j.ID] = cancel
	q.mu.Unlock()
	defer func() {
		q.mu.Lock()
		delete(q.running, j.ID)
		q.mu.Unlock()
	}()
	progress := time.NewTicker(q.cfg.AckWait / 3)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-progress.C:
				_ = msg.InProgress()
			case <-done:
				return
			}
		}
	}()
	out, err := exec(runCtx, j)
	progress.Stop()
	close(done)

	switch {
	case q.base.Err() != nil || err != nil:
		// Shutting down, or the service cannot run it now: back to the
		// queue, the attempt not counted.
		if err != nil && q.base.Err() == nil {
			q.log.Info("submission put back: the service cannot run it now", "id", j.ID, "err", err)
		}
		rec.Status = Queued
		rec.Attempts--
		if err := q.put(ctx, rec, rev); err != nil && !conflict(err) {
			q.log.Warn("cannot put a submission back", "id", j.ID, "err", err)
		}
		_ = msg.NakWithDelay(retryDelay)
		return
	case runCtx.Err() != nil:
		// Cancelled: the record says so already.
		_ = msg.Ack()
		return
	}
	end := time.Now().UTC()
	rec.FinishedAt = &end
	if out.Error != nil {
		rec.Status, rec.Error = Failed, out.Error
	} else {
		rec.Status, rec.Result = Done, out.Result
	}
	if len(rec.Result) > q.inline() {
		// Too large for the record: the object store keeps it.
		if err := q.storeResult(msg, rec.ID, rec.Result); err != nil {
			q.log.Error("cannot store a submission's result; it will run again", "id", rec.ID, "err", err)
			return
		}
		rec.Result, rec.ResultStored = nil, true
	}
	q.finish(msg, j, rec, rev)
}

// finish stores a final record at revision rev and acknowledges the
// message. If someone else wrote first (a cancellation, or another node
// that ran the same submission when this one was too slow to report
// progress), their record stands. While the record cannot be stored (a
// NATS server gone, its streams electing new leaders), it tries again,
// reporting progress so that the submission is not run again elsewhere,
// for up to storeFor; after that, or once this node's connection is
// closed or its runs aborted, the message is left unacknowledged, to be
// delivered again.
func (q *Queue) finish(msg jetstream.Msg, j Job, rec Record, rev uint64) {
	err := q.persist(storeFor, 5*time.Second, func(ctx context.Context) error { return q.put(ctx, rec, rev) }, func(err error) {
		q.log.Warn("cannot store a submission's result yet; trying again", "id", rec.ID, "err", err)
		_ = msg.InProgress()
	})
	switch {
	case err == nil:
		q.notifyFinal(rec.ID)
		q.dropBody(j)
		if err := q.queueCallback(context.Background(), rec); err != nil {
			// Left unacknowledged: the message comes back, finds the
			// record final, and queues the callback then.
			return
		}
	case conflict(err):
		// Another writer's record stands (a cancellation, another
		// node's result); make sure its callback is queued.
		if cur, _, err := q.get(context.Background(), rec.ID); err == nil && cur.Status.Final() {
			if err := q.queueCallback(context.Background(), cur); err != nil {
				return
			}
		}
	default:
		q.log.Error("cannot store a submission's result; it will run again", "id", rec.ID, "err", err)
		return
	}
	// Acknowledged or not, the stored result decides: a redelivered
	// message of a final record is dropped.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := msg.DoubleAck(ctx); err != nil {
		q.log.Warn("cannot acknowledge a finished submission; its redelivery will be dropped", "id", rec.ID, "err", err)
	}
}

// storeResult puts a large result in the object store, trying as finish
// does (progress marked) for up to storeFor.
func (q *Queue) storeResult(msg jetstream.Msg, id string, b []byte) error {
	return q.persist(storeFor, 30*time.Second, func(ctx context.Context) error {
		_, err := q.bodies.PutBytes(ctx, resultObject(id), b)
		return err
	}, func(error) { _ = msg.InProgress() })
}

// persist runs op, each try bounded by each, until it succeeds, a record
// conflict ends it (someone else wrote first), limit has passed, or this
// node's connection is closed or its runs aborted; between tries it calls
// between with the try's error and waits 100 ms, doubling up to 2 s. It
// returns op's last error. For writes that must outlast a NATS server's
// loss while its streams elect new leaders.
func (q *Queue) persist(limit, each time.Duration, op func(context.Context) error, between func(error)) error {
	give := time.Now().Add(limit)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		ctx, cancel := context.WithTimeout(context.Background(), each)
		err := op(ctx)
		cancel()
		if err == nil || conflict(err) || time.Now().After(give) || q.nc.IsClosed() || q.base.Err() != nil {
			return err
		}
		if between != nil {
			between(err)
		}
		time.Sleep(wait)
	}
}

// storeFor is how long a worker keeps trying to store a result.
const storeFor = 2 * time.Minute

// errorJSON is the error body of a submission the queue gave up on.
func errorJSON(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}
