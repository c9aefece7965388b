package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a real broker, for tests that cut or
// stall the connections between mqctl and the broker without touching the
// broker itself. Down drops every live connection and refuses new ones
// until Up; Pause stalls forwarding both ways until Resume, so that to the
// client the broker looks hung (SIGSTOPped) while the connections stay
// open. Conns counts the connections and Tap sees what clients send.
type Proxy struct {
	Addr   string // where clients connect; the same after Down and Up
	t      testing.TB
	target string
	wg     sync.WaitGroup

	mu       sync.Mutex
	resumed  *sync.Cond
	paused   bool
	closed   bool
	ln       net.Listener // nil while down
	conns    map[net.Conn]bool
	accepted int
	tap      func(sent io.Reader)
}

// NewProxy starts a proxy to target (host:port) on a free loopback port.
// It is closed when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{Addr: ln.Addr().String(), t: t, target: target, conns: map[net.Conn]bool{}}
	p.resumed = sync.NewCond(&p.mu)
	p.mu.Lock()
	p.serve(ln)
	p.mu.Unlock()
	t.Cleanup(p.Close)
	return p
}

// Conns is how many connections the proxy has accepted and forwarded.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Tap has f read, for each connection accepted from now on, the bytes the
// client sends. The bytes go on to the broker as f reads them, so f must
// keep reading; once f returns, the rest is forwarded unseen.
func (p *Proxy) Tap(f func(sent io.Reader)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tap = f
}

// Pause holds whatever either side sends from now on until Resume.
func (p *Proxy) Pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = true
}

// Resume forwards again, what was held first.
func (p *Proxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused = false
	p.resumed.Broadcast()
}

// Down closes every live connection and stops listening: new connections
// are refused until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down()
}

// Up listens on Addr again after Down. Failing to, it fails the test.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.Addr)
	if err != nil {
		p.t.Errorf("testenv: proxy listen again on %s: %v", p.Addr, err)
		return
	}
	p.serve(ln)
}

// Close stops the proxy, closes its connections and waits until its
// goroutines are done.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.down()
	p.resumed.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) down() {
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
}

// serve accepts on ln; p.mu is held.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Go(func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", p.target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // went down while dialling
				client.Close()
				server.Close()
				p.mu.Unlock()
				continue
			}
			p.accepted++
			p.conns[client], p.conns[server] = true, true
			tap := p.tap
			p.wg.Go(func() { p.forward(server, client, tap) })
			p.wg.Go(func() { p.forward(client, server, nil) })
			p.mu.Unlock()
		}
	})
}

// forward copies src to dst, through tap if there is one, until either
// side closes, then closes both.
func (p *Proxy) forward(dst, src net.Conn, tap func(io.Reader)) {
	defer func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		dst.Close()
		src.Close()
		delete(p.conns, dst)
		delete(p.conns, src)
	}()
	w := gate{p, dst}
	if tap != nil {
		tap(io.TeeReader(src, w))
	}
	_, _ = io.Copy(w, src)
}

// gate writes to a connection once the proxy is not paused.
type gate struct {
	p   *Proxy
	dst net.Conn
}

func (g gate) Write(b []byte) (int, error) {
	g.p.mu.Lock()
	for g.p.paused && !g.p.closed {
		g.p.resumed.Wait()
	}
	g.p.mu.Unlock()
	return g.dst.Write(b)
}
