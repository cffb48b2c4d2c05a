package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/codeexec/codeexec/internal/api"
	"github.com/codeexec/codeexec/internal/callback"
	"github.com/codeexec/codeexec/internal/problem"
	"github.com/codeexec/codeexec/internal/runner"
	"github.com/codeexec/codeexec/internal/submissions"
)

// serve runs `codeexec serve args`.
func serve(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	return execute(ctx, append([]string{"serve"}, args...), os.Stdin, io.Discard, stderr, getenv)
}

// serveConfig starts the runner and the HTTP server with cfg, and on ctx's
// end stops accepting requests and lets in-flight runs finish.
func serveConfig(ctx context.Context, cfg Config, stderr io.Writer) error {
	log := cfg.logger(stderr)

	r, err := runner.New(ctx, cfg.Runner, log)
	if err != nil {
		return err
	}
	defer r.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	var queue *submissions.Queue
	var subs api.Submissions // nil unless the queue is on
	// Problem packages live in the queue's NATS object store, shared by a
	// fleet; without the queue, in a folder of this node's.
	var store problem.Store = problem.DirStore{Dir: cfg.problemsDir()}
	if cfg.Submissions {
		qc := cfg.Queue
		if len(qc.URLs) == 0 {
			qc.Dir = cfg.queueDir()
		}
		if queue, err = submissions.Open(ctx, qc, log); err != nil {
			return fmt.Errorf("submissions: %w", err)
		}
		defer queue.Close()
		subs = queue
		if store, err = queue.Problems(ctx); err != nil {
			return fmt.Errorf("problems: %w", err)
		}
	}
	svc := api.New(r, apiConfigFor(cfg.API, cfg.Runner.Languages), log, subs, api.WithProblems(store))
	workers := make(chan struct{})
	wctx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	if queue != nil {
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := queue.Work(wctx, cmp.Or(cfg.Workers, cfg.Runner.MaxConcurrent), svc.Execute); err != nil {
				log.Error("submissions: workers stopped", "err", err)
			}
		})
		if cfg.CallbackSecret != "" {
			allow, _ := callback.ParseAllow(cfg.API.CallbackAllow) // Validate checked it
			sender := callback.NewSender([]byte(cfg.CallbackSecret), allow, cfg.CallbackTimeout)
			wg.Go(func() {
				_ = queue.Deliver(wctx, callbackSenders, func(ctx context.Context, rec submissions.Record) (int, error) {
					method, body := svc.Callback(rec)
					return sender.Send(ctx, method, rec.CallbackURL, rec.ID, body)
				})
			})
		}
		go func() {
			wg.Wait()
			close(workers)
		}()
	} else {
		close(workers)
	}
	srv := &http.Server{
		Handler:           svc.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// The bound of a route that runs nothing: POST /run and /judge
		// move their own deadlines to their worst case (internal/api/deadline.go).
		WriteTimeout: cfg.API.AnswerMargin,
		IdleTimeout:  2 * time.Minute,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	log.Info("listening", "addr", ln.Addr().String(), "namespace", cfg.Runner.Namespace, "socket", cfg.Runner.Socket)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down; waiting for in-flight runs", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	// The workers stop pulling at once and finish what they run, beside
	// the HTTP requests in flight; what is still running at the deadline
	// goes back to the queue for another node, or for this one's restart.
	stopWork()
	err = srv.Shutdown(sctx)
	select {
	case <-workers:
	case <-sctx.Done():
		queue.Abort()
		<-workers
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// callbackSenders is how many callbacks a node delivers at once.
const callbackSenders = 8

// apiConfigFor is the API configuration for the configured languages: the
// API accepts those the runner serves at the time of a request (those whose
// image it found at start-up, and those imported since).
func apiConfigFor(c api.Config, langs map[string]runner.Language) api.Config {
	c.Languages = slices.Sorted(maps.Keys(langs))
	return c
}
