package submissions

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The names in JetStream. A fleet shares them: every node pulls from the
// same stream through the same durable consumer.
const (
	StreamName    = "CODEEXEC_SUBMISSIONS"
	Bucket        = "codeexec_submissions"
	ConsumerName  = "codeexec_workers"
	subjectPrefix = "codeexec.submissions"
	cancelSubject = "codeexec.cancel"
	finalPrefix   = "codeexec.final"
	// The callbacks to deliver: one message per finished submission that
	// has a callback URL.
	// Bodies is the object store of submissions too large to travel in
	// their message (over inlineBytes).
	Bodies           = "codeexec_bodies"
	CallbackStream   = "CODEEXEC_CALLBACKS"
	CallbackConsumer = "codeexec_callbacks"
	callbackSubject  = "codeexec.callbacks"
	// Anonymous is the owner token of submissions made without an API key.
	Anonymous = "anonymous"
)

// Status is where a submission is in its life.
type Status string

// The statuses. Done, Cancelled and Failed are final.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Done      Status = "done"
	Cancelled Status = "cancelled"
	Failed    Status = "failed"
)

// Statuses lists every Status, for the API's contract.
var Statuses = []Status{Queued, Running, Done, Cancelled, Failed}

// Final reports whether s is a status a record never leaves.
func (s Status) Final() bool { return s == Done || s == Cancelled || s == Failed }

// Record is what the bucket keeps of a submission.
type Record struct {
	ID          string          `json:"id"`
	Kind        string          `json:"kind"`
	Status      Status          `json:"status"`
	CreatedAt   time.Time       `json:"created_at"`
	StartedAt   *time.Time      `json:"started_at,omitempty"`
	FinishedAt  *time.Time      `json:"finished_at,omitempty"`
	Attempts    int             `json:"attempts"`
	Node        string          `json:"node,omitempty"`
	Metadata    json.RawMessage `json:"metadata,omitempty"`
	CallbackURL string          `json:"callback_url,omitempty"`
	// Result is what Exec answered for a submission that ran (done);
	// Error what it answered for one that could not (failed), or why the
	// queue gave up on it.
	Result json.RawMessage `json:"result,omitempty"`
	Error  json.RawMessage `json:"error,omitempty"`
	// ResultStored says Result is in the Bodies object store (it was
	// larger than a message); Get reads it from there.
	ResultStored bool `json:"result_stored,omitempty"`
	// Callback is how the delivery to CallbackURL went.
	Callback *CallbackState `json:"callback,omitempty"`
	// Owner is the token of the API key that made the submission (a
	// subject token: letters, digits, '-', '_'), or "anonymous".
	Owner string `json:"owner"`
}

// CallbackState records the attempts to deliver a callback.
type CallbackState struct {
	Attempts    int        `json:"attempts"`
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	// GaveUp is set when Config.CallbackRetryFor passed without a 2xx.
	GaveUp bool `json:"gave_up,omitempty"`
}

// OwnedBy reports whether owner (a key's token, "" for none) made rec.
func (rec Record) OwnedBy(owner string) bool { return rec.Owner == cmp.Or(owner, Anonymous) }

// Submission is what Submit stores.
type Submission struct {
	Kind        string
	Body        json.RawMessage // run by Exec, opaque here
	Owner       string          // a token naming the API key; "" for none
	Metadata    json.RawMessage
	CallbackURL string
}

// Job is what a worker hands to Exec: the message in the stream.
type Job struct {
	ID    string          `json:"id"`
	Kind  string          `json:"kind"`
	Owner string          `json:"owner"`
	Body  json.RawMessage `json:"body,omitempty"`
	// Stored says the body is in the Bodies object store under the id,
	// not in the message.
	Stored bool `json:"stored,omitempty"`
}

// inlineBytes is the largest body carried in its message. Larger ones go
// to the object store in chunks, so that a fleet's NATS servers need no
// max_payload above NATS's default (1 MB).
const inlineBytes = 256 << 10

// Outcome is what Exec made of a job: Result when it ran, or Error when
// it cannot run (a request the service refuses). One is set.
type Outcome struct {
	Result json.RawMessage
	Error  json.RawMessage
}

// Exec runs a job. An error means the service cannot run it now (every
// sandbox busy, the container runtime down): the job goes back to the
// queue and is tried again later, on this node or another.
type Exec func(ctx context.Context, j Job) (Outcome, error)

// Errors of the queue.
var (
	ErrNotFound  = errors.New("no such submission")
	ErrFinal     = errors.New("the submission has already finished")
	ErrTooMany   = errors.New("too many submissions waiting")
	ErrQueueFull = errors.New("the queue is full")
	ErrTooLarge  = errors.New("submission too large")
)

// Queue is a node's handle on the submissions: it submits, reads,
// cancels and, once Work is called, runs them.
type Queue struct {
	cfg    Config
	log    *slog.Logger
	srv    *server.Server // the embedded server, or nil
	nc     *nats.Conn
	js     jetstream.JetStream
	stream jetstream.Stream
	kv     jetstream.KeyValue
	bodies jetstream.ObjectStore
	cons   jetstream.Consumer
	cbCons jetstream.Consumer

	mu      sync.Mutex
	running map[string]context.CancelFunc // by submission id
	base    context.Context               // the runs' parent: cancelled when Work's drain ends
	stop    context.CancelFunc

	deliveries, redeliveries       atomic.Int64
	callbacksSent, callbacksMissed atomic.Int64
}

// Open connects to cfg's NATS (starting the embedded server when
// cfg.URLs is empty) and makes sure the stream, the bucket and the
// consumer exist with cfg's settings.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (_ *Queue, retErr error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	q := &Queue{cfg: cfg, log: log, running: map[string]context.CancelFunc{}}
	q.base, q.stop = context.WithCancel(context.Background())
	defer func() {
		if retErr != nil {
			q.Close()
		}
	}()
	opts := []nats.Option{nats.Name("codeexec " + cfg.Node), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	url := strings.Join(cfg.URLs, ",")
	if len(cfg.URLs) == 0 {
		srv, err := startEmbedded(cfg)
		if err != nil {
			return nil, err
		}
		q.srv = srv
		url = srv.ClientURL()
		opts = append(opts, nats.InProcessServer(srv))
	} else {
		if cfg.Credentials != "" {
			opts = append(opts, nats.UserCredentials(cfg.Credentials))
		}
		if cfg.TLSCA != "" {
			opts = append(opts, nats.RootCAs(cfg.TLSCA))
		}
		if cfg.TLSCert != "" {
			opts = append(opts, nats.ClientCert(cfg.TLSCert, cfg.TLSKey))
		}
	}
	var err error
	if q.nc, err = nats.Connect(url, opts...); err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	if q.js, err = jetstream.New(q.nc); err != nil {
		return nil, err
	}
	if q.stream, q.cons, err = workQueue(ctx, q.js, cfg, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "codeexec submissions waiting to run",
		Subjects:    []string{subjectPrefix + ".>"},
		MaxMsgs:     int64(cfg.MaxQueued),
		Discard:     jetstream.DiscardNew,
	}, ConsumerName, "every codeexec node pulls from here"); err != nil {
		return nil, err
	}
	q.kv, err = retryJS(ctx, func(ctx context.Context) (jetstream.KeyValue, error) {
		return q.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:      Bucket,
			Description: "codeexec submissions: status and result",
			TTL:         cfg.Retention,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
			History:     1,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create bucket %s: %w", Bucket, err)
	}
	q.bodies, err = retryJS(ctx, func(ctx context.Context) (jetstream.ObjectStore, error) {
		return q.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      Bodies,
			Description: "codeexec submissions too large for a message",
			TTL:         cfg.Retention,
			Storage:     jetstream.FileStorage,
			Replicas:    cfg.Replicas,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("create object store %s: %w", Bodies, err)
	}
	if _, q.cbCons, err = workQueue(ctx, q.js, cfg, jetstream.StreamConfig{
		Name:        CallbackStream,
		Description: "codeexec callbacks to deliver",
		Subjects:    []string{callbackSubject},
	}, CallbackConsumer, "every codeexec node delivers callbacks from here"); err != nil {
		return nil, err
	}
	return q, nil
}

// workQueue makes sure a work-queue stream sc (file storage, cfg's
// replicas and retention, a minute of duplicate detection) and its one
// durable pull consumer exist. Attempts are counted on the records
// (Config.MaxAttempts), so the consumer redelivers without end.
func workQueue(ctx context.Context, js jetstream.JetStream, cfg Config, sc jetstream.StreamConfig, consumer, about string) (jetstream.Stream, jetstream.Consumer, error) {
	sc.Retention, sc.Storage, sc.Replicas, sc.MaxAge, sc.Duplicates = jetstream.WorkQueuePolicy, jetstream.FileStorage, cfg.Replicas, cfg.Retention, time.Minute
	stream, err := retryJS(ctx, func(ctx context.Context) (jetstream.Stream, error) { return js.CreateOrUpdateStream(ctx, sc) })
	if err != nil {
		return nil, nil, fmt.Errorf("create stream %s: %w", sc.Name, err)
	}
	cons, err := retryJS(ctx, func(ctx context.Context) (jetstream.Consumer, error) {
		return stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
			Durable:       consumer,
			Description:   about,
			AckPolicy:     jetstream.AckExplicitPolicy,
			AckWait:       cfg.AckWait,
			MaxDeliver:    -1,
			MaxAckPending: -1,
			Replicas:      cfg.Replicas,
		})
	})
	if err != nil {
		return nil, nil, fmt.Errorf("create consumer %s: %w", consumer, err)
	}
	return stream, cons, nil
}

// Close disconnects, and stops the embedded server. Work must have
// returned first.
func (q *Queue) Close() {
	q.stop()
	if q.nc != nil {
		q.nc.Close()
	}
	if q.srv != nil {
		q.srv.Shutdown()
		q.srv.WaitForShutdown()
	}
}

// subject is where the submissions of owner go: one subject per owner,
// so that the stream counts what each owner has waiting.
func subject(owner string) string { return subjectPrefix + "." + owner }

// Submit stores s and queues it, and returns its record.
func (q *Queue) Submit(ctx context.Context, s Submission) (Record, error) {
	if len(s.Body) > q.cfg.MaxBodyBytes {
		return Record{}, fmt.Errorf("%w: %d bytes; the queue takes up to %d", ErrTooLarge, len(s.Body), q.cfg.MaxBodyBytes)
	}
	owner := cmp.Or(s.Owner, Anonymous)
	if q.cfg.MaxQueuedPerOwner > 0 && owner != Anonymous {
		n, err := q.Waiting(ctx, owner)
		if err != nil {
			return Record{}, err
		}
		if n >= q.cfg.MaxQueuedPerOwner {
			return Record{}, fmt.Errorf("%w: %d of this key's submissions are queued or running; the limit is %d", ErrTooMany, n, q.cfg.MaxQueuedPerOwner)
		}
	}
	rec := Record{
		ID: uuid.NewString(), Kind: s.Kind, Status: Queued, CreatedAt: time.Now().UTC(),
		Metadata: s.Metadata, CallbackURL: s.CallbackURL, Owner: owner,
	}
	job := Job{ID: rec.ID, Kind: s.Kind, Owner: owner, Body: s.Body}
	if len(s.Body) > q.inline() {
		if _, err := q.bodies.PutBytes(ctx, rec.ID, s.Body); err != nil {
			return Record{}, fmt.Errorf("store a submission's body: %w", err)
		}
		job.Body, job.Stored = nil, true
	}
	msg, err := json.Marshal(job)
	if err != nil {
		return Record{}, err
	}
	if err := q.put(ctx, rec, 0); err != nil {
		q.dropBody(job)
		return Record{}, err
	}
	if _, err := q.js.Publish(ctx, subject(owner), msg, jetstream.WithMsgID(rec.ID)); err != nil {
		// Not queued: the record and the body go too, so nobody waits on it.
		_ = q.kv.Delete(context.WithoutCancel(ctx), rec.ID)
		q.dropBody(job)
		if strings.Contains(err.Error(), "maximum messages exceeded") {
			return Record{}, fmt.Errorf("%w: it holds its maximum of %d submissions", ErrQueueFull, q.cfg.MaxQueued)
		}
		return Record{}, fmt.Errorf("queue submission: %w", err)
	}
	return rec, nil
}

// inline is the largest body or result kept in a message or a record:
// inlineBytes, or less when the server takes smaller messages.
func (q *Queue) inline() int {
	return min(inlineBytes, int(q.nc.MaxPayload())-4096)
}

// dropBody removes a stored body that no one will run (best effort: the
// object store's TTL removes what is left).
func (q *Queue) dropBody(j Job) {
	if !j.Stored {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.bodies.Delete(ctx, j.ID); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		q.log.Warn("cannot remove a submission's stored body; it expires with the retention", "id", j.ID, "err", err)
	}
}

// put writes rec: creates it when rev is 0, else replaces revision rev.
// It returns jetstream.ErrKeyRevisionMismatch (or ErrKeyExists) when
// someone else wrote first.
func (q *Queue) put(ctx context.Context, rec Record, rev uint64) error {
	_, err := q.putRev(ctx, rec, rev)
	return err
}

func (q *Queue) putRev(ctx context.Context, rec Record, rev uint64) (uint64, error) {
	b, err := json.Marshal(rec)
	if err != nil {
		return 0, err
	}
	if rev == 0 {
		return q.kv.Create(ctx, rec.ID, b)
	}
	return q.kv.Update(ctx, rec.ID, b, rev)
}

// conflict reports whether err says another writer changed the record.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists)
}

// Get returns submission id's record and revision.
func (q *Queue) Get(ctx context.Context, id string) (Record, uint64, error) {
	rec, rev, err := q.get(ctx, id)
	if err == nil {
		err = q.fill(ctx, &rec)
	}
	return rec, rev, err
}

// fill reads into rec the result kept in the object store, if any.
func (q *Queue) fill(ctx context.Context, rec *Record) error {
	if !rec.ResultStored {
		return nil
	}
	b, err := q.bodies.GetBytes(ctx, resultObject(rec.ID))
	if err != nil {
		return fmt.Errorf("read the stored result of %s: %w", rec.ID, err)
	}
	rec.Result = b
	return nil
}

// resultObject names a result kept in the object store.
func resultObject(id string) string { return "result-" + id }

// get returns id's record as the bucket holds it: a large result left in
// the object store. Records are written back from what get returns.
func (q *Queue) get(ctx context.Context, id string) (Record, uint64, error) {
	if _, err := uuid.Parse(id); err != nil {
		return Record{}, 0, ErrNotFound
	}
	e, err := q.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return Record{}, 0, ErrNotFound
	}
	if err != nil {
		return Record{}, 0, err
	}
	var rec Record
	if err := json.Unmarshal(e.Value(), &rec); err != nil {
		return Record{}, 0, fmt.Errorf("record %s: %w", id, err)
	}
	return rec, e.Revision(), nil
}

// Cancel cancels a queued or running submission of owner's (another
// owner's is ErrNotFound), and returns its record. A running one is
// killed by the node that runs it. A final one is ErrFinal.
func (q *Queue) Cancel(ctx context.Context, id, owner string) (Record, error) {
	for {
		rec, rev, err := q.get(ctx, id)
		if err != nil {
			return Record{}, err
		}
		if !rec.OwnedBy(owner) {
			return Record{}, ErrNotFound
		}
		if rec.Status.Final() {
			return rec, ErrFinal
		}
		was := rec.Status
		now := time.Now().UTC()
		rec.Status, rec.FinishedAt = Cancelled, &now
		if err := q.put(ctx, rec, rev); conflict(err) {
			continue // it changed meanwhile: decide again
		} else if err != nil {
			return Record{}, err
		}
		if was == Running {
			if err := q.nc.Publish(cancelSubject, []byte(id)); err != nil {
				q.log.Warn("cannot ask the nodes to stop a cancelled submission", "id", id, "err", err)
			}
		}
		q.notifyFinal(id)
		// A cancellation's callback that cannot be queued now is queued
		// when the submission's message comes back (see handle).
		_ = q.queueCallback(ctx, rec)
		return rec, nil
	}
}

// Wait returns submission id's record once it is final, or its latest
// record with ctx's error when ctx ends first.
func (q *Queue) Wait(ctx context.Context, id string) (Record, error) {
	// A plain NATS subscription to the submission's "final" notice, made
	// before the record is read, so that no change is missed; the record
	// stays the truth, read again on each notice (and once a second, in
	// case a notice was lost). A JetStream watch would cost a consumer
	// per waiting request.
	notices := make(chan *nats.Msg, 4)
	sub, err := q.nc.ChanSubscribe(finalSubject(id), notices)
	if err != nil {
		return Record{}, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		rec, _, err := q.Get(ctx, id)
		if err != nil || rec.Status.Final() {
			return rec, err
		}
		select {
		case <-notices:
		case <-tick.C:
		case <-ctx.Done():
			return rec, ctx.Err()
		}
	}
}

// finalSubject is where a node says that submission id's record became
// final (notifyFinal), for Wait.
func finalSubject(id string) string { return finalPrefix + "." + id }

// notifyFinal tells waiters that id's record is final. Best effort: a
// waiter also reads the record once a second.
func (q *Queue) notifyFinal(id string) { _ = q.nc.Publish(finalSubject(id), nil) }

// Waiting counts owner's submissions in the stream: queued, or running
// and not yet acknowledged.
func (q *Queue) Waiting(ctx context.Context, owner string) (int, error) {
	subj := subject(cmp.Or(owner, Anonymous))
	info, err := q.stream.Info(ctx, jetstream.WithSubjectFilter(subj))
	if err != nil {
		return 0, fmt.Errorf("stream info: %w", err)
	}
	return int(info.State.Subjects[subj]), nil
}

// Stats are the queue's figures for /metrics.
type Stats struct {
	Depth        uint64        // messages in the stream: queued or running
	OldestAge    time.Duration // of the oldest message; 0 when empty
	Deliveries   int64         // messages this node received
	Redeliveries int64         // of them, the ones delivered before
	// Callback attempts this node made: answered 2xx, or not.
	CallbacksDelivered, CallbacksFailed int64
}

// Stats reads the stream's state and this node's counters.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	s := Stats{Deliveries: q.deliveries.Load(), Redeliveries: q.redeliveries.Load(),
		CallbacksDelivered: q.callbacksSent.Load(), CallbacksFailed: q.callbacksMissed.Load()}
	info, err := q.stream.Info(ctx)
	if err != nil {
		return s, err
	}
	s.Depth = info.State.Msgs
	if s.Depth > 0 && !info.State.FirstTime.IsZero() {
		s.OldestAge = time.Since(info.State.FirstTime)
	}
	return s, nil
}

// jsAttempt bounds one JetStream API request of Open's set-up.
const jsAttempt = 10 * time.Second

// retryJS calls f, each attempt bounded by jsAttempt, until it succeeds,
// fails otherwise than by going unanswered, or ctx ends. A cluster that has
// just elected its JetStream leader may leave an API request unanswered
// (seen: a three-server cluster's first stream creation waiting 30 s); the
// next attempt gets through. Every call retried is a create-or-update, so
// an attempt that did get through is harmless.
func retryJS[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	for {
		actx, cancel := context.WithTimeout(ctx, jsAttempt)
		v, err := f(actx)
		cancel()
		unanswered := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) || errors.Is(err, nats.ErrNoResponders)
		if err == nil || !unanswered || ctx.Err() != nil {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}
