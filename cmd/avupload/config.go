package main

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/avupload/avupload/wrapper"
)

// Environment variables the CLI reads. The library itself reads none.
const (
	envAPIKey  = "APIVIDEO_API_KEY"  // the API key, for the token commands
	envToken   = "AVUPLOAD_TOKEN"    // the upload token, for upload
	envBaseURL = "AVUPLOAD_BASE_URL" // the server, unless --base-url or --sandbox
	envCACert  = "AVUPLOAD_CACERT"   // a PEM file of certificates to trust, unless --cacert
)

// serverFlags choose the server a command talks to, how it is trusted, and
// the client's log (--verbose): everything a command that calls the API
// shares. bind completes them from the environment before the command runs.
type serverFlags struct {
	baseURL   string
	sandbox   bool
	cacert    string
	verbose   bool
	logFormat string
	otel      otelFlags // --otel (otel.go)

	// Set by bind.
	baseURLFrom string         // "--base-url" or "$AVUPLOAD_BASE_URL"
	cacertFrom  string         // "--cacert" or "$AVUPLOAD_CACERT"
	roots       *x509.CertPool // the system's roots and the --cacert file's, or nil
	logger      *slog.Logger   // the client's log with --verbose, or nil
	logw        *redactWriter  // where logger writes, or nil
}

// baseURLFlag is the value of --base-url. It leads from the parsed flags
// back to their serverFlags, which bind completes.
type baseURLFlag struct{ s *serverFlags }

func (f baseURLFlag) String() string     { return f.s.baseURL }
func (f baseURLFlag) Set(v string) error { f.s.baseURL = v; return nil }
func (f baseURLFlag) Type() string       { return "string" }

func (s *serverFlags) register(fs *pflag.FlagSet) {
	fs.Var(baseURLFlag{s}, "base-url", "talk to the API at `URL`, e.g. a local 'avupload sandbox' (default $"+envBaseURL+", else https://ws.api.video)")
	fs.BoolVar(&s.sandbox, "sandbox", false, "talk to api.video's sandbox environment (https://sandbox.api.video)")
	fs.StringVar(&s.cacert, "cacert", "", "trust the PEM certificates in `FILE` as well as the system's, e.g. the one 'avupload sandbox --tls' prints (default $"+envCACert+")")
	fs.BoolVarP(&s.verbose, "verbose", "v", false, "log what the client does on standard error: connections, retries, waits, resumes (never a token or key)")
	fs.StringVar(&s.logFormat, "log-format", "text", "the --verbose log's `FORMAT`: text (key=value) or json (one object a line)")
	s.otel.register(fs)
}

// bindServer completes the server flags of cmd, if it has any, from the
// environment, checks them, and with --verbose sets up the client's log on
// cmd's standard error. Flags win over the environment.
func bindServer(cmd *cobra.Command, a *app) error {
	f := cmd.Flags().Lookup("base-url")
	if f == nil {
		return nil
	}
	v, ok := f.Value.(baseURLFlag)
	if !ok {
		return nil
	}
	return v.s.bind(cmd, a)
}

func (s *serverFlags) bind(cmd *cobra.Command, a *app) error {
	flags := cmd.Flags()
	s.baseURLFrom = "--base-url"
	if env := strings.TrimSpace(a.getenv(envBaseURL)); env != "" && !flags.Changed("base-url") && !s.sandbox {
		s.baseURL, s.baseURLFrom = env, "$"+envBaseURL
	}
	if err := s.check(); err != nil {
		return err
	}
	if err := s.otel.start(cmd); err != nil {
		return err
	}
	s.cacertFrom = "--cacert"
	if env := a.getenv(envCACert); env != "" && !flags.Changed("cacert") {
		s.cacert, s.cacertFrom = env, "$"+envCACert
	}
	if s.cacert != "" {
		roots, err := loadRoots(s.cacert)
		if err != nil {
			return usagef("%s %s: %w", s.cacertFrom, quoteIfNeeded(s.cacert), err)
		}
		s.roots = roots
	}
	switch {
	case s.logFormat != "text" && s.logFormat != "json":
		return usagef("--log-format %s: want text or json", quoteIfNeeded(s.logFormat))
	case flags.Changed("log-format") && !s.verbose:
		return usagef("--log-format %s needs --verbose: without it, nothing is logged", s.logFormat)
	case !s.verbose:
		return nil
	}
	// The log shares standard error with the progress display and the
	// notices, which write from their own goroutines: one lock for all
	// writers but a file, which takes concurrent writes (and stays one for
	// isTerminal).
	stderr := cmd.ErrOrStderr()
	if _, ok := stderr.(*os.File); !ok {
		cmd.SetErr(&syncWriter{w: stderr})
	}
	s.logw = &redactWriter{a: a, w: cmd.ErrOrStderr(), term: isTerminal(stderr)}
	s.logger = newLogger(s.logw, s.logFormat)
	cmd.SetContext(httptrace.WithClientTrace(cmd.Context(), connTrace(cmd.Context(), s.logger)))
	return nil
}

// loadRoots returns the system's certificate pool with the PEM
// certificates of file added.
func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		if pathErr := (*fs.PathError)(nil); errors.As(err, &pathErr) {
			return nil, pathErr.Err
		}
		return nil, err
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if !roots.AppendCertsFromPEM(pem) {
		return nil, errors.New("holds no PEM certificate (want -----BEGIN CERTIFICATE----- blocks)")
	}
	return roots, nil
}

// newLogger returns the --verbose log, writing to w in format (text or json).
func newLogger(w io.Writer, format string) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// connTrace logs every new connection the client opens, with the protocol
// it speaks (h2 or http/1.1 over TLS), and every failed TLS handshake.
func connTrace(ctx context.Context, log *slog.Logger) *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) {
			if info.Reused {
				return
			}
			proto := "http/1.1"
			if tc, ok := info.Conn.(*tls.Conn); ok {
				proto = cmp.Or(tc.ConnectionState().NegotiatedProtocol, "http/1.1") + " over TLS"
			}
			log.LogAttrs(ctx, slog.LevelDebug, "avupload: connected", slog.String("server", info.Conn.RemoteAddr().String()),
				slog.String("protocol", proto))
		},
		TLSHandshakeDone: func(_ tls.ConnectionState, err error) {
			if err != nil {
				log.LogAttrs(ctx, slog.LevelDebug, "avupload: TLS handshake failed", slog.String("error", err.Error()))
			}
		},
	}
}

// redactWriter writes the log to w with every secret of a replaced: the
// library's lines hold none, and this makes sure of it. On a terminal each
// line first takes the line from the progress bar, which redraws on its
// next update.
type redactWriter struct {
	mu   sync.Mutex
	a    *app
	w    io.Writer
	term bool
}

// route sends the log through w, a progress display's writer, which
// prints each line above its bars.
func (r *redactWriter) route(w io.Writer) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.w, r.term = w, false
}

func (r *redactWriter) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	line := r.a.redact(string(p))
	if r.term {
		line = "\r\x1b[K" + line
	}
	if _, err := io.WriteString(r.w, line); err != nil {
		return 0, err
	}
	return len(p), nil
}

// options returns the client options that select the server.
func (s *serverFlags) options() []wrapper.Option {
	switch {
	case s.baseURL != "":
		return []wrapper.Option{wrapper.WithBaseURL(s.baseURL)}
	case s.sandbox:
		return []wrapper.Option{wrapper.WithSandbox()}
	default:
		return nil
	}
}

// check refuses a --base-url that is not an http or https URL with a host,
// before the library would refuse it in its own words.
func (s *serverFlags) check() error {
	if s.baseURL == "" {
		return nil
	}
	u, err := url.Parse(s.baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return usagef("%s %s: want a URL such as https://ws.api.video or http://127.0.0.1:8080", cmp.Or(s.baseURLFrom, "--base-url"), quoteIfNeeded(s.baseURL))
	}
	if u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		// Never echo a password: the URL is shown without its user part.
		shown := *u
		shown.User = nil
		return usagef("%s %s: a base URL holds no user, password, query or fragment; give the server alone, e.g. %s://%s%s",
			cmp.Or(s.baseURLFrom, "--base-url"), quoteIfNeeded(shown.String()), u.Scheme, u.Host, u.EscapedPath())
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return usagef("%s %s: port %s is out of range (1 to 65535)", cmp.Or(s.baseURLFrom, "--base-url"), quoteIfNeeded(s.baseURL), p)
		}
	}
	return nil
}

// outputFlags choose how a command prints its result.
type outputFlags struct {
	json  bool
	quiet bool
}

func (o *outputFlags) register(fs *pflag.FlagSet, quietHelp string) {
	fs.BoolVar(&o.json, "json", false, "print the result as JSON, with the API's field names")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, quietHelp)
}

// newClient builds the client a command uses. apiKey may be empty for the
// calls that need none (uploads); extra options come last.
func newClient(srv *serverFlags, apiKey string, extra ...wrapper.Option) (*wrapper.Client, error) {
	if err := srv.check(); err != nil {
		return nil, err
	}
	opts := srv.options()
	opts = append(opts, wrapper.WithOriginApp("avupload-cli", wrapper.Version))
	if apiKey != "" {
		opts = append(opts, wrapper.WithAPIKey(apiKey))
	}
	if srv.roots != nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.TLSClientConfig = &tls.Config{RootCAs: srv.roots, MinVersion: tls.VersionTLS12}
		opts = append(opts, wrapper.WithHTTPClient(&http.Client{Transport: t}))
	}
	if srv.logger != nil {
		opts = append(opts, wrapper.WithLogger(srv.logger))
	}
	opts = append(opts, srv.otel.options()...)
	c, err := wrapper.New(append(opts, extra...)...)
	if err != nil {
		return nil, usageError{err}
	}
	if srv.logger != nil {
		from := "default"
		switch {
		case srv.sandbox:
			from = "--sandbox"
		case srv.baseURL != "":
			from = cmp.Or(srv.baseURLFrom, "--base-url")
		}
		attrs := []slog.Attr{slog.String("url", c.BaseURL()), slog.String("from", from)}
		if srv.cacert != "" {
			attrs = append(attrs, slog.String("cacert", srv.cacert))
		}
		srv.logger.LogAttrs(context.Background(), slog.LevelDebug, "avupload: server", attrs...)
	}
	return c, nil
}

// apiKey returns the API key from --api-key or else APIVIDEO_API_KEY, and
// records it as a secret. Without either it returns a usage error.
func (a *app) apiKey(flag string) (string, error) {
	return a.credential(flag, envAPIKey, "no API key: set "+envAPIKey+" (or pass --api-key)")
}

// uploadToken returns the upload token from --token or else AVUPLOAD_TOKEN,
// and records it as a secret. Without either it returns a usage error.
func (a *app) uploadToken(flag string) (string, error) {
	return a.credential(flag, envToken, "no upload token: pass --token (or set "+envToken+")")
}

// credential returns flag, or else the environment variable env, and records
// it as a secret; without either it returns a usage error saying missing.
// Blanks and line breaks around it, as a file or a copy and paste leave
// them, are trimmed: no token or key holds any.
func (a *app) credential(flag, env, missing string) (string, error) {
	raw := cmp.Or(flag, a.getenv(env))
	a.secret(raw)
	v := strings.TrimSpace(raw)
	if v == "" {
		return "", usageError{missingCredential{missing}}
	}
	a.secret(v)
	return v, nil
}

// printf writes to w, ignoring errors: a closed stdout is not worth failing
// a finished upload for.
func printf(w io.Writer, format string, args ...any) { _, _ = fmt.Fprintf(w, format, args...) }
