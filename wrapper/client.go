package wrapper

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/avupload/avupload/gen"
)

// Version is the library's version, sent in the AV-Origin-Client header.
const Version = "0.1.0"

// Client talks to the delegated-upload API. Build one with New; the zero
// value is not usable. A Client is safe for concurrent use by many goroutines
// and should be reused: it holds the HTTP connections of upload chunks (see
// UploadOptions.HTTP2 and CloseIdleConnections).
type Client struct {
	*config
	api    *gen.Client
	raw    *gen.ClientWithResponses
	caller *caller
	// chunkPool is the transport of upload chunks over HTTP/1.1, when the
	// Client made one (see http1Transport).
	chunkPool *http.Transport
	// adaptWindow, when set, replaces adaptWindow: tests shorten it.
	adaptWindow time.Duration
}

// config is what a Client was built with that its caller and transports
// need too. It is held once, by pointer, by each of them: the API key, the
// base URL and path, the retry policy and the logger have one copy.
type config struct {
	baseURL  string // without a trailing slash
	basePath string // baseURL's path, without a trailing slash
	apiKey   string
	retry    RetryPolicy
	logger   *slog.Logger
}

// Option configures a Client. Options validate their arguments and New
// returns the first error.
type Option func(*settings) error

type settings struct {
	baseURL    string
	apiKey     string
	httpClient *http.Client
	retry      RetryPolicy
	logger     *slog.Logger
	userAgent  string
	originApp  string
	stall      time.Duration
	events     func(Event)
	tokenHTTP  bool
	otel       otelSettings
	bwlimit    int64 // WithBandwidthLimit; 0: none
	budget     int   // WithRetryBudget; 0: none
}

// WithAPIKey sets the API key, sent as HTTP Basic on the upload-token calls
// and never on uploads. A client without a key can still upload with a token.
func WithAPIKey(key string) Option {
	return func(s *settings) error {
		if strings.TrimSpace(key) == "" || strings.ContainsAny(key, " \t\r\n:") {
			return invalidInput("API key is empty or holds blanks or a colon")
		}
		s.apiKey = key
		return nil
	}
}

// WithBaseURL points the client at any server speaking the API, for example a
// sandbox.Server's URL. It must be an absolute http or https URL; a path is kept
// as a prefix of every route.
func WithBaseURL(raw string) Option {
	return func(s *settings) error {
		u, err := url.Parse(raw)
		if err != nil {
			return invalidInput("base URL %q: %v", raw, err)
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			return invalidInput("base URL %q: scheme must be http or https", raw)
		}
		if u.Host == "" {
			return invalidInput("base URL %q has no host", raw)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return invalidInput("base URL %q: credentials, query and fragment are not allowed", raw)
		}
		s.baseURL = strings.TrimSuffix(u.String(), "/")
		return nil
	}
}

// WithSandbox points the client at api.video's sandbox environment.
func WithSandbox() Option { return WithBaseURL(gen.ServerURLSandbox) }

// WithProduction points the client at api.video's production environment,
// which is also the default.
func WithProduction() Option { return WithBaseURL(gen.ServerURLProduction) }

// WithHTTPClient makes the client send its requests through hc. The client
// is not modified: it is copied, its Transport (or http.DefaultTransport) is
// wrapped, and the copy never follows a redirect, whatever hc's
// CheckRedirect says (see ErrRedirected). When that Transport is an
// *http.Transport, upload chunks go through a copy of it that speaks
// HTTP/1.1 only and keeps up to MaxConcurrency connections alive, unless
// UploadOptions.HTTP2; any other RoundTripper carries every request, chunks
// included, as it is: the protocol is then its own choice.
func WithHTTPClient(hc *http.Client) Option {
	return func(s *settings) error {
		if hc == nil {
			return invalidInput("HTTP client is nil")
		}
		s.httpClient = hc
		return nil
	}
}

// WithRetryPolicy replaces DefaultRetryPolicy.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(s *settings) error {
		if err := p.validate(); err != nil {
			return err
		}
		s.retry = p
		return nil
	}
}

// WithoutRetries turns retries off: every request is tried once.
func WithoutRetries() Option { return WithRetryPolicy(NoRetries()) }

// DefaultCallStallTimeout bounds every attempt of the token calls and of
// Raw() unless WithStallTimeout says otherwise. Uploads have their own,
// UploadOptions.StallTimeout.
const DefaultCallStallTimeout = 30 * time.Second

// WithStallTimeout bounds every attempt of the token calls and of Raw():
// one that sends nothing and gets no answer for d, or whose answer is not
// whole within d of its first byte, is abandoned (see ErrStalled) and
// retried as the policy allows. d must be positive; the default is
// DefaultCallStallTimeout. Uploads are bounded by UploadOptions.StallTimeout.
func WithStallTimeout(d time.Duration) Option {
	return func(s *settings) error {
		if d <= 0 {
			return invalidInput("stall timeout %s: want a positive duration", d)
		}
		s.stall = d
		return nil
	}
}

// WithEvents has fn told of every retry and of every attempt that makes no
// progress for IdleNotice (see Event), so that a program can say why it
// waits. fn is called from the goroutines making the calls and from timer
// goroutines, possibly at once: it must be safe for concurrent use and
// return quickly.
func WithEvents(fn func(Event)) Option {
	return func(s *settings) error {
		if fn == nil {
			return invalidInput("event function is nil")
		}
		s.events = fn
		return nil
	}
}

// WithInsecureUploadTokenOverHTTP lets uploads send the upload token over
// plain http to any host. Without it, an upload to an http base URL whose
// host is not a loopback address is refused with ErrInvalidInput before any
// byte is sent, as anyone on the path could read the token and use it.
func WithInsecureUploadTokenOverHTTP() Option {
	return func(s *settings) error {
		s.tokenHTTP = true
		return nil
	}
}

// WithLogger sends the client's log lines (retries, resumed uploads) to l.
// By default nothing is logged. Log lines never hold the API key or a token.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error {
		if l == nil {
			return invalidInput("logger is nil")
		}
		s.logger = l
		return nil
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option {
	return func(s *settings) error {
		if strings.TrimSpace(ua) == "" || strings.ContainsAny(ua, "\r\n") {
			return invalidInput("user agent is empty or spans lines")
		}
		s.userAgent = ua
		return nil
	}
}

var (
	originName    = regexp.MustCompile(`^[\w-]{1,50}$`)
	originVersion = regexp.MustCompile(`^\d{1,3}(\.\d{1,3}(\.\d{1,3})?)?$`)
)

// WithOriginApp names the application built on the client, sent as
// AV-Origin-App: name:version. The name is 1 to 50 letters, digits, _ or -;
// the version is up to three dot-separated numbers of 1 to 3 digits.
func WithOriginApp(name, version string) Option {
	return func(s *settings) error {
		if !originName.MatchString(name) {
			return invalidInput("origin app name %q must match %s", name, originName)
		}
		if !originVersion.MatchString(version) {
			return invalidInput("origin app version %q must match %s", version, originVersion)
		}
		s.originApp = name + ":" + version
		return nil
	}
}

// New builds a Client. With no options it talks to production, without an
// API key, with DefaultRetryPolicy. An API key is refused over plain http to
// anything but a loopback host; so is an upload token, at upload time, unless
// WithInsecureUploadTokenOverHTTP.
func New(opts ...Option) (*Client, error) {
	s := settings{
		baseURL: gen.ServerURLProduction,
		retry:   DefaultRetryPolicy(),
		logger:  slog.New(slog.DiscardHandler),
		stall:   DefaultCallStallTimeout,
		budget:  DefaultRetryBudget,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&s); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(s.baseURL)
	if err != nil {
		return nil, invalidInput("base URL: %v", err)
	}
	if s.apiKey != "" && u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, invalidInput("refusing to send the API key over plain http to %s; use https", u.Host)
	}

	headers := http.Header{}
	headers.Set("AV-Origin-Client", "avupload:"+Version)
	if s.originApp != "" {
		headers.Set("AV-Origin-App", s.originApp)
	}
	ua := s.userAgent
	if ua == "" {
		ua = "avupload/" + Version
	}
	headers.Set("User-Agent", ua)

	base := http.DefaultTransport
	hc := &http.Client{}
	if s.httpClient != nil {
		copied := *s.httpClient
		hc = &copied
		if s.httpClient.Transport != nil {
			base = s.httpClient.Transport
		}
	}
	cfg := &config{
		baseURL:  s.baseURL,
		basePath: strings.TrimSuffix(u.Path, "/"),
		apiKey:   s.apiKey,
		retry:    s.retry,
		logger:   s.logger,
	}
	wrap := func(rt http.RoundTripper) *transport {
		return &transport{
			config:  cfg,
			base:    rt,
			scheme:  u.Scheme,
			host:    u.Host,
			headers: headers,
		}
	}
	hc.Transport = wrap(base)
	// A redirect is handed back as the answer, never followed: following
	// it would turn an upload into a body-less GET that another host may
	// answer 2xx, or send the chunk and its token elsewhere.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	chunks := hc
	h1 := http1Transport(base)
	if h1 != nil {
		copied := *hc
		copied.Transport = wrap(h1)
		chunks = &copied
	}
	cl := &caller{
		config:        cfg,
		hc:            hc,
		chunks:        chunks,
		stall:         s.stall,
		tokenOverHTTP: s.tokenHTTP,
		events:        s.events,
		idleEvery:     IdleNotice,
		sleep:         sleepCtx,
		tel:           newTelemetry(s.otel),
		pace:          newPacer(s.bwlimit, s.budget, s.retry.maxServerWait()),
	}

	// The generated client joins operation paths to the server URL; a
	// trailing slash keeps a base path such as /api as a prefix.
	server := s.baseURL + "/"
	api, err := gen.NewClient(server, gen.WithHTTPClient(cl))
	if err != nil {
		return nil, fmt.Errorf("avupload: %w", err)
	}
	return &Client{
		config:    cfg,
		api:       api,
		raw:       &gen.ClientWithResponses{ClientInterface: api},
		caller:    cl,
		chunkPool: h1,
	}, nil
}

// http1Transport returns the transport upload chunks go through unless
// UploadOptions.HTTP2: a copy of base that speaks HTTP/1.1 only, so that
// each chunk in flight has a connection of its own, and that keeps up to
// MaxConcurrency of them alive between chunks (http.Transport keeps 2 by
// default, and would close the others and open new ones, TLS handshakes
// and all, for the next chunks). It returns nil when base is not an
// *http.Transport, or is one told to speak no HTTP/1 (prior-knowledge
// HTTP/2 only): the caller chose it, and chunks go through it as it is.
func http1Transport(base http.RoundTripper) *http.Transport {
	t, ok := base.(*http.Transport)
	if !ok || t.Protocols != nil && !t.Protocols.HTTP1() {
		return nil
	}
	h1 := t.Clone()
	h1.Protocols = new(http.Protocols)
	h1.Protocols.SetHTTP1(true)
	// A transport that has made an HTTPS request, or was set up for
	// HTTP/2 by hand, may offer h2 in its TLS configuration: a server that
	// took it would answer in a protocol this copy does not speak.
	delete(h1.TLSNextProto, "h2")
	if h1.TLSClientConfig != nil {
		h1.TLSClientConfig.NextProtos = slices.DeleteFunc(slices.Clone(h1.TLSClientConfig.NextProtos), func(p string) bool { return p == "h2" })
	}
	h1.MaxIdleConnsPerHost = max(h1.MaxIdleConnsPerHost, MaxConcurrency)
	if h1.MaxIdleConns != 0 {
		h1.MaxIdleConns = max(h1.MaxIdleConns, MaxConcurrency)
	}
	return h1
}

// CloseIdleConnections closes the idle connections of the pool the Client
// keeps for upload chunks over HTTP/1.1 (see UploadOptions.HTTP2); it does
// not interrupt uploads under way, and the pool opens new connections for
// later ones. The connections of the other calls, and of chunks over
// HTTP/2, belong to the transport given with WithHTTPClient (or
// http.DefaultTransport) and are left alone. Call it when a Client is no
// longer needed; otherwise the idle connections close after the transport's
// IdleConnTimeout.
func (c *Client) CloseIdleConnections() {
	if c.chunkPool != nil {
		c.chunkPool.CloseIdleConnections()
	}
}

// BaseURL returns the URL of the server the client talks to.
func (c *Client) BaseURL() string { return c.baseURL }

// Raw returns the generated client for the edge cases this package does not
// cover. It shares the Client's base URL, headers, authentication, retries,
// stall rule and refusal of redirects; its answers' bodies are read whole
// before they reach you (and a 3xx is returned as it is). Unlike this package, the generated client treats every answer,
// 404 and 5xx included, as a response rather than an error: check
// StatusCode() yourself.
func (c *Client) Raw() *gen.ClientWithResponses { return c.raw }

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
