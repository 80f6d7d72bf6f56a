package main

import (
	"bufio"
	"net"
	"sync"
	"time"
)

// splitTLS shares one port between the kubelet API (TLS, what the API
// server dials at the Node's kubelet endpoint) and sim-kubelet's plain HTTP
// endpoints (/healthz, /metrics, POST /restart, which tests reach with a
// plain client), telling them apart by the first byte a client sends: a TLS
// handshake record starts with 0x16, an HTTP request with a letter. Both
// listeners close when ln does.
func splitTLS(ln net.Listener) (tlsLn, plainLn net.Listener) {
	t, p := newChanListener(ln.Addr()), newChanListener(ln.Addr())
	go func() {
		defer t.Close()
		defer p.Close()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				// A client that connects and says nothing does not hold a
				// goroutine for ever.
				_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(conn)
				first, err := br.Peek(1)
				_ = conn.SetReadDeadline(time.Time{})
				if err != nil {
					conn.Close()
					return
				}
				target := p
				if first[0] == 0x16 {
					target = t
				}
				target.deliver(&peekedConn{Conn: conn, r: br})
			}()
		}
	}()
	return t, p
}

// chanListener is a net.Listener fed connections by splitTLS.
type chanListener struct {
	addr  net.Addr
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{addr: addr, conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) deliver(c net.Conn) {
	select {
	case l.conns <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// peekedConn reads first what splitTLS peeked at.
type peekedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }
