package sandbox

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/netutil"
)

// Server is a Sandbox listening on a TCP address, in the manner of
// net/http/httptest.Server. Create one with [Start], or with
// sandboxtest.NewServer in tests.
type Server struct {
	// URL is the base URL of the server, such as "http://127.0.0.1:41234"
	// ("https://..." with [WithTLS]), with no trailing slash.
	URL string
	// APIKey is an API key the server accepts: the first one configured.
	APIKey string
	// Sandbox is the server's handler, for inspection and faults.
	Sandbox *Sandbox

	srv      *http.Server
	ln       net.Listener
	done     chan struct{}
	err      error
	handlers sync.WaitGroup // requests being served
}

// DefaultMaxConnections is how many connections a server from [Start] serves
// at once, unless [WithMaxConnections] says otherwise. It keeps a sandbox
// with a data directory (a socket and a file per upload) under the usual
// limit of open files.
const DefaultMaxConnections = 4096

// Start starts a Sandbox listening on addr (host:port; port 0 picks a free
// one) and serves it in the background until Close or Shutdown. It serves
// https when opts hold [WithTLS]. Asset links point at the server's URL,
// or, when it listens on every interface, at the one each client used.
func Start(addr string, opts ...Option) (*Server, error) {
	sb, err := New(opts...)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		_ = sb.Close()
		return nil, err
	}
	url := "http://" + ln.Addr().String()
	ln = netutil.LimitListener(ln, sb.cfg.maxConns)
	if sb.cfg.tlsCert != nil {
		// TLS outermost: the server sees *tls.Conn, which it needs to
		// speak HTTP/2 and to fill in Request.TLS.
		ln = tls.NewListener(ln, tlsConfig(sb.cfg.tlsCert, sb.cfg.http2))
		url = "https://" + ln.Addr().String()
	}
	// Asset links point at the address listened on, unless that is every
	// interface ([::], 0.0.0.0), which no browser opens: then at the
	// address each client reached the sandbox at.
	if host, _, _ := net.SplitHostPort(ln.Addr().String()); !net.ParseIP(host).IsUnspecified() {
		sb.cfg.baseURL = url
	}
	s := &Server{
		URL:     url,
		APIKey:  sb.cfg.apiKeys[0],
		Sandbox: sb,
		ln:      ln,
		done:    make(chan struct{}),
	}
	// Every request is counted, so that Close can wait for the handlers
	// that still write to the data directory after their connection closed.
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlers.Add(1)
		defer s.handlers.Done()
		sb.ServeHTTP(w, r)
	})
	s.srv = &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute}
	// TLS handshake failures (a browser that does not trust a self-signed
	// certificate yet) go to the sandbox's log, not to the process's stderr.
	s.srv.ErrorLog = slog.NewLogLogger(sb.cfg.logger.Handler(), slog.LevelDebug)
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			s.err = err
		}
	}()
	return s, nil
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Close stops the server at once, closing every connection, and returns
// once the requests in flight have ended.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	s.handlers.Wait()
	return errors.Join(err, s.err, s.Sandbox.Close())
}

// Shutdown stops the server gracefully: it stops accepting connections and
// waits for requests in flight, until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
	}
	<-s.done
	return errors.Join(err, s.err, s.Sandbox.Close())
}
