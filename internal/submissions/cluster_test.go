package submissions

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// freePort is a loopback TCP port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// natsCluster starts n NATS servers with JetStream on loopback ports,
// routed to each other as one cluster, and returns them.
func natsCluster(t *testing.T, n int) []*server.Server {
	t.Helper()
	ports := make([]int, n)
	var routes []string
	for i := range ports {
		ports[i] = freePort(t)
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", ports[i]))
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		opts := &server.Options{
			ServerName: fmt.Sprintf("n%d", i+1),
			Host:       "127.0.0.1",
			Port:       server.RANDOM_PORT,
			JetStream:  true,
			StoreDir:   t.TempDir(),
			NoSigs:     true,
			NoLog:      true,
			Cluster:    server.ClusterOpts{Name: "codeexec-test", Host: "127.0.0.1", Port: ports[i]},
			Routes:     server.RoutesFromStr(strings.Join(routes, ",")),
		}
		srv, err := server.NewServer(opts)
		if err != nil {
			t.Fatal(err)
		}
		srv.Start()
		if !srv.ReadyForConnections(30 * time.Second) {
			t.Fatalf("nats server %d not ready", i+1)
		}
		t.Cleanup(srv.Shutdown)
		servers[i] = srv
	}
	// JetStream needs a meta leader before streams can be made.
	deadline := time.Now().Add(30 * time.Second)
	for {
		ready := 0
		for _, s := range servers {
			if s.JetStreamIsClustered() && s.JetStreamIsCurrent() {
				ready++
			}
		}
		if ready == n {
			return servers
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster has no JetStream leader after 30s (%d of %d current)", ready, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAThreeNodeClusterLosesNothing runs three queue nodes, each on its
// own server of a three-server cluster with three replicas, and kills a
// queue node and a NATS server while they run: every submission ends done
// with its own answer, run to the end once (twice only when the node that
// died ran it to the end before it could store the result).
func TestAThreeNodeClusterLosesNothing(t *testing.T) {
	servers := natsCluster(t, 3)
	nodes := make([]*Queue, 3)
	for i := range nodes {
		nodes[i] = open(t, Config{URLs: []string{servers[i].ClientURL()}, Replicas: 3, AckWait: 2 * time.Second, Node: fmt.Sprintf("q%d", i+1)})
	}

	var mu sync.Mutex
	runs := map[string][]int{} // id → the nodes that ran it to the end
	var dying atomic.Bool
	exec := func(node int) Exec {
		return func(ctx context.Context, j Job) (Outcome, error) {
			select {
			case <-time.After(20 * time.Millisecond):
			case <-ctx.Done():
				return Outcome{}, ctx.Err()
			}
			if node == 0 && dying.Load() {
				// Node 1 is gone: it never answers.
				<-ctx.Done()
				return Outcome{}, ctx.Err()
			}
			mu.Lock()
			runs[j.ID] = append(runs[j.ID], node)
			mu.Unlock()
			return Outcome{Result: j.Body}, nil
		}
	}
	ctx0, stop0 := context.WithCancel(context.Background())
	done0 := make(chan struct{})
	go func() {
		defer close(done0)
		_ = nodes[0].Work(ctx0, 2, exec(0))
	}()
	work(t, nodes[1], 2, exec(1))
	work(t, nodes[2], 2, exec(2))

	const total = 150
	ids := make([]string, 0, total)
	for i := range total {
		// Submissions come in through every node still up.
		via := nodes[i%3]
		if i > 50 && i%3 == 0 {
			via = nodes[1]
		}
		rec, err := via.Submit(context.Background(), Submission{Kind: "run", Body: json.RawMessage(fmt.Sprint(i))})
		if err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
		ids = append(ids, rec.ID)
		switch i {
		case 50:
			// Queue node 1 dies mid-run: it stops answering and its
			// connection goes.
			dying.Store(true)
			time.Sleep(100 * time.Millisecond)
			nodes[0].nc.Close()
		case 100:
			// A NATS server dies; node 3, its client, reconnects to
			// another.
			servers[2].Shutdown()
		}
	}
	for i, id := range ids {
		got := waitOn(t, nodes[1], id)
		if got.Status != Done || string(got.Result) != fmt.Sprint(i) {
			t.Fatalf("submission %d: %+v", i, got)
		}
		// Once, or twice when the first node ran it to the end and could
		// not store the result: node 1, which died, or node 3, whose NATS
		// server died under it (at least once, then).
		mu.Lock()
		ran := runs[id]
		mu.Unlock()
		if len(ran) != 1 && (len(ran) != 2 || ran[0] == 1) {
			t.Errorf("submission %d ran to the end on nodes %v", i, ran)
		}
	}
	if r := nodes[1].redeliveries.Load() + nodes[2].redeliveries.Load(); r == 0 {
		t.Error("no submission of the dead node was delivered again: the test proved nothing")
	}
	stop0()
	nodes[0].Abort()
	<-done0
}

// waitOn waits for id on q, retrying while the cluster elects leaders.
func waitOn(t *testing.T, q *Queue, id string) Record {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		rec, err := q.Wait(ctx, id)
		cancel()
		if err == nil {
			return rec
		}
		if time.Now().After(deadline) {
			t.Fatalf("wait for %s: %v (last seen %+v)", id, err, rec)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
