package main

import (
	"net"
	"sync"
	"time"
)

// proxy is a TCP proxy that simulates a wide-area link: every byte is
// delivered half a round trip after it leaves, and it leaves no sooner than
// the link's rate allows. Each direction is one link shared by every
// connection (full duplex), so that parallel connections split the rate
// between them as on a real link instead of each getting a link of its own.
// The reader of each connection waits while its bytes wait for the link, so
// that TCP's flow control pushes back on the sender as a full bottleneck
// queue would.
type proxy struct {
	ln       net.Listener
	upstream string
	oneway   time.Duration
	up, down *pacer
	wg       sync.WaitGroup
}

// pacer serializes bytes through a link of rate bytes per second.
type pacer struct {
	mu   sync.Mutex
	next time.Time
	rate float64
}

// slack is how long the link may seem idle without losing its time: a
// sleep of the reader ends up to a millisecond or so after the time asked,
// and without it each overshoot would idle the link, capping a connection
// alone at about half the rate (each 32 KiB leaves in 1.3 ms at 200 Mbit/s).
// Within slack, the next bytes leave as if they had been waiting.
const slack = 20 * time.Millisecond

// reserve returns the time at which n bytes finish leaving the link.
func (p *pacer) reserve(n int) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	if p.next.Before(now.Add(-slack)) {
		p.next = now
	}
	p.next = p.next.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	return p.next
}

func startProxy(upstream string, rtt time.Duration, rate float64) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, upstream: upstream, oneway: rtt / 2, up: &pacer{rate: rate}, down: &pacer{rate: rate}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *proxy) Addr() string { return p.ln.Addr().String() }

// Close stops accepting; connections in progress run to their end.
func (p *proxy) Close() {
	p.ln.Close()
	p.wg.Wait()
}

func (p *proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.serve(c)
	}
}

func (p *proxy) serve(client net.Conn) {
	defer client.Close()
	// Connecting takes a round trip across the link, as a TCP handshake does.
	time.Sleep(2 * p.oneway)
	server, err := net.Dial("tcp", p.upstream)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client, p.up); done <- struct{}{} }()
	go func() { p.pipe(client, server, p.down); done <- struct{}{} }()
	<-done
	<-done
}

type segment struct {
	data []byte
	at   time.Time
}

// pipe copies src to dst through the link l, then half-closes dst. A
// failure on either side closes both.
func (p *proxy) pipe(dst, src net.Conn, l *pacer) {
	q := make(chan segment, 16384)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 128<<10)
			n, err := src.Read(buf)
			if n > 0 {
				left := l.reserve(n)
				time.Sleep(time.Until(left))
				q <- segment{data: buf[:n], at: left.Add(p.oneway)}
			}
			if err != nil {
				return
			}
		}
	}()
	for s := range q {
		time.Sleep(time.Until(s.at))
		if _, err := dst.Write(s.data); err != nil {
			src.Close()
			dst.Close()
			for range q {
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	} else {
		dst.Close()
	}
}
