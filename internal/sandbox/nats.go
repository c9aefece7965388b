package sandbox

import (
	"fmt"
	"net"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// NATS is an embedded nats-server with JetStream.
type NATS struct {
	server *server.Server
	opts   *server.Options
	// URL is the nats:// URL clients connect to.
	URL     string
	tempDir string
}

// NATSOptions configure StartNATS.
type NATSOptions struct {
	// Port to listen on; 0 picks a free one.
	Port int
	// StoreDir keeps JetStream state; empty means a temporary directory
	// removed on Close.
	StoreDir string
	// Configure, when set, adjusts the server options (auth, TLS) for tests.
	Configure func(*server.Options)
}

// StartNATS starts nats-server in this process and waits until it accepts
// connections.
func StartNATS(o NATSOptions) (*NATS, error) {
	n := &NATS{}
	store := o.StoreDir
	if store == "" {
		dir, err := os.MkdirTemp("", "mqctl-nats-*")
		if err != nil {
			return nil, fmt.Errorf("start nats: %w", err)
		}
		store, n.tempDir = dir, dir
	}
	port := o.Port
	if port == 0 {
		port = server.RANDOM_PORT
	}
	opts := &server.Options{
		ServerName: "mqctl-sandbox",
		Host:       "127.0.0.1",
		Port:       port,
		JetStream:  true,
		StoreDir:   store,
		NoLog:      true,
		NoSigs:     true,
	}
	if o.Configure != nil {
		o.Configure(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		n.cleanup()
		return nil, fmt.Errorf("start nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(natsReadyWithin) {
		s.Shutdown()
		n.cleanup()
		return nil, fmt.Errorf("start nats: not ready within %s", natsReadyWithin)
	}
	n.server, n.opts = s, opts
	n.URL = fmt.Sprintf("nats://%s", s.Addr().String())
	return n, nil
}

// natsReadyWithin bounds the wait for a started server to take clients. A
// clustered node's JetStream waits for its peers too, and the three nodes
// of a test cluster start on a loaded two-core machine one after another:
// 10 s was once too short (a CI run under load), so it is a hang guard
// with room, not an expected time.
const natsReadyWithin = 30 * time.Second

// Server exposes the embedded server for tests.
func (n *NATS) Server() *server.Server { return n.server }

// Restart shuts the server down and starts it again on the same port and
// store, as a broker restart looks to clients.
func (n *NATS) Restart() error {
	port := n.server.Addr().(*net.TCPAddr).Port
	n.server.Shutdown()
	n.server.WaitForShutdown()
	opts := n.opts.Clone()
	opts.Port = port
	s, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("restart nats: %w", err)
	}
	go s.Start()
	if !s.ReadyForConnections(natsReadyWithin) {
		s.Shutdown()
		return fmt.Errorf("restart nats: not ready within %s", natsReadyWithin)
	}
	n.server, n.opts = s, opts
	return nil
}

// Close stops the server and removes a temporary store.
func (n *NATS) Close() {
	n.server.Shutdown()
	n.server.WaitForShutdown()
	n.cleanup()
}

func (n *NATS) cleanup() {
	if n.tempDir != "" {
		os.RemoveAll(n.tempDir)
	}
}
