package submissions

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// The defaults (docs/submissions.md).
const (
	DefaultRetention         = 24 * time.Hour
	DefaultAckWait           = 30 * time.Second
	DefaultMaxAttempts       = 3
	DefaultMaxQueued         = 100_000
	DefaultMaxQueuedPerOwner = 1_000
	// DefaultMaxPayload is the embedded server's largest message. NATS
	// advises against more than 8 MiB; a larger submission is stored in
	// chunks (Bodies).
	DefaultMaxPayload = 8 << 20
	// DefaultMaxBodyBytes bounds a submission's body: room for the
	// largest POST /judge body (48 MiB) with its metadata.
	DefaultMaxBodyBytes = 64 << 20
	// A callback is tried again with exponential backoff and jitter from
	// DefaultCallbackBackoff, at most DefaultCallbackMaxBackoff apart, for
	// DefaultCallbackRetryFor after the submission finished.
	DefaultCallbackBackoff    = time.Second
	DefaultCallbackMaxBackoff = 5 * time.Minute
	DefaultCallbackRetryFor   = time.Hour
)

// Config says where the submissions live and how they are run.
type Config struct {
	// URLs are the NATS servers of a cluster; empty starts an embedded
	// server storing under Dir.
	URLs []string
	// Credentials is a NATS credentials file for URLs.
	Credentials string
	// TLSCA is a PEM file of the CAs that sign the servers' certificates
	// (default: the system's roots); TLSCert and TLSKey are this node's
	// client certificate and key, for servers that verify clients.
	TLSCA, TLSCert, TLSKey string
	// Dir is the embedded server's JetStream store.
	Dir string
	// Listen, when set (host:port), lets NATS clients reach the embedded
	// server; by default it listens on no port at all.
	Listen string
	// Node names this node in records and logs; the host name by default.
	Node string
	// Replicas of the stream, bucket and consumer: 1 embedded, 3 on a
	// three-node cluster.
	Replicas int
	// Retention is how long a record (and a message never run) is kept
	// after its last change.
	Retention time.Duration
	// AckWait is how long a node may be silent about a running submission
	// before it is handed to another node; a running one reports progress
	// three times per AckWait.
	AckWait time.Duration
	// MaxAttempts is how many times a submission is started before it is
	// given up (failed): a node that dies mid-run costs one attempt.
	MaxAttempts int
	// MaxQueued bounds the stream; MaxQueuedPerOwner what one API key may
	// have queued or running (submissions without a key are bounded by
	// MaxQueued only).
	MaxQueued, MaxQueuedPerOwner int
	// MaxPayload is the embedded server's largest message.
	MaxPayload int32
	// MaxBodyBytes is the largest submission body the queue takes (larger
	// than a message: it goes to the object store in chunks).
	MaxBodyBytes int
	// CallbackBackoff, CallbackMaxBackoff and CallbackRetryFor shape the
	// callbacks' retries (the defaults above).
	CallbackBackoff, CallbackMaxBackoff, CallbackRetryFor time.Duration
}

func (c Config) withDefaults() Config {
	if c.Node == "" {
		c.Node, _ = os.Hostname()
	}
	if c.Replicas == 0 {
		c.Replicas = 1
	}
	if c.Retention == 0 {
		c.Retention = DefaultRetention
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.MaxQueued == 0 {
		c.MaxQueued = DefaultMaxQueued
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.CallbackBackoff == 0 {
		c.CallbackBackoff = DefaultCallbackBackoff
	}
	if c.CallbackMaxBackoff == 0 {
		c.CallbackMaxBackoff = DefaultCallbackMaxBackoff
	}
	if c.CallbackRetryFor == 0 {
		c.CallbackRetryFor = DefaultCallbackRetryFor
	}
	return c
}

// Validate reports what Open cannot work with.
func (c Config) Validate() error {
	var errs []error
	if len(c.URLs) == 0 && c.Dir == "" {
		errs = append(errs, errors.New("submissions: the embedded server needs a directory"))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("submissions: a NATS client certificate needs its key, and a key its certificate"))
	}
	if len(c.URLs) == 0 && (c.TLSCA != "" || c.TLSCert != "" || c.Credentials != "") {
		errs = append(errs, errors.New("submissions: NATS credentials and TLS settings need --nats-url (the embedded server is reached in process)"))
	}
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			errs = append(errs, fmt.Errorf("submissions: listen address: %w", err))
		}
	}
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("submissions: replicas must be 1 to 5, got %d", c.Replicas))
	}
	if c.Retention < time.Minute {
		errs = append(errs, fmt.Errorf("submissions: retention must be at least 1m, got %s", c.Retention))
	}
	if c.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("submissions: ack wait must be at least 1s, got %s", c.AckWait))
	}
	if c.MaxAttempts < 1 || c.MaxQueued < 1 || c.MaxQueuedPerOwner < 0 {
		errs = append(errs, errors.New("submissions: max attempts and max queued must be positive"))
	}
	if c.CallbackBackoff < 0 || c.CallbackMaxBackoff < c.CallbackBackoff || c.CallbackRetryFor < 0 {
		errs = append(errs, errors.New("submissions: callback backoff must be positive, at most the largest backoff"))
	}
	return errors.Join(errs...)
}
