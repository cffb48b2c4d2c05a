package submissions

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// startEmbedded starts a NATS server in this process with JetStream
// storing under cfg.Dir. It listens on no port unless cfg.Listen says so:
// the node reaches it in process (nats.InProcessServer).
func startEmbedded(cfg Config) (*server.Server, error) {
	opts := &server.Options{
		ServerName: "codeexec-" + cfg.Node,
		JetStream:  true,
		StoreDir:   cfg.Dir,
		DontListen: cfg.Listen == "",
		NoSigs:     true,
		NoLog:      true,
		MaxPayload: cfg.MaxPayload,
	}
	if cfg.Listen != "" {
		host, port, _ := net.SplitHostPort(cfg.Listen) // Validate checked it
		opts.Host = host
		if opts.Port, _ = strconv.Atoi(port); opts.Port == 0 {
			opts.Port = server.RANDOM_PORT
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready after 30s (store %s)", cfg.Dir)
	}
	return srv, nil
}
