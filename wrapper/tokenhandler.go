package wrapper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The defaults of TokenHandlerOptions.
const (
	// DefaultTokenHandlerTTL is the lifetime of the tokens a TokenHandler
	// hands out unless TokenHandlerOptions.TTL says otherwise: long enough to
	// start an upload, short enough that a token copied out of a page is
	// soon worthless.
	DefaultTokenHandlerTTL = 10 * time.Minute
	// DefaultTokenHandlerMaxAlive is how many unexpired tokens one principal
	// may hold at once unless TokenHandlerOptions.MaxAlive says otherwise.
	DefaultTokenHandlerMaxAlive = 3
	// DefaultTokenHandlerMaxMinted is how many tokens one principal may be
	// handed per TokenHandlerOptions.Window unless
	// TokenHandlerOptions.MaxMinted says otherwise.
	DefaultTokenHandlerMaxMinted = 20
	// DefaultTokenHandlerWindow is the span over which MaxMinted counts
	// unless TokenHandlerOptions.Window says otherwise.
	DefaultTokenHandlerWindow = time.Hour
)

// tokenRetryRevoke is how long a TokenHandler waits before trying again to
// delete a revoked token whose deletion failed.
const tokenRetryRevoke = time.Minute

// TokenHandlerOptions configures a TokenHandler. Authorize is required;
// every zero field takes its default.
type TokenHandlerOptions struct {
	// Authorize decides who asks for a token. It is given the request (its
	// cookies, its Authorization header, its context) and returns the
	// principal the token is for, such as a user id: the limits below
	// count per principal. An error refuses the request, and no token is
	// minted: an error matching ErrUnauthorized is answered 401 (no or bad
	// credentials), any other 403. The handler never authenticates anyone
	// itself. Authorize is called from many goroutines at once; the text of
	// its errors is neither sent nor logged.
	Authorize func(*http.Request) (principal string, err error)

	// TTL is the lifetime of each token, whole seconds from one second to
	// MaxTokenTTL; DefaultTokenHandlerTTL when zero. Tokens that never
	// expire are not handed out.
	TTL time.Duration

	// MaxAlive is how many unexpired tokens one principal may hold at once;
	// DefaultTokenHandlerMaxAlive when zero. A request over it is answered
	// 429, with Retry-After saying when the principal's oldest token
	// expires. Revoke frees a place at once.
	MaxAlive int
	// MaxMinted is how many tokens one principal may be handed in any
	// Window; DefaultTokenHandlerMaxMinted when zero. A request over it is
	// answered 429, with Retry-After saying when a place frees. A request
	// the API failed does not count.
	MaxMinted int
	// Window is the sliding span MaxMinted counts over;
	// DefaultTokenHandlerWindow when zero, at least one second otherwise.
	Window time.Duration

	// AllowedOrigins are the web origins whose pages may ask for tokens
	// across origins, each as a browser writes it in the Origin header:
	// "https://app.example.com", "http://localhost:3000" (scheme, host and
	// port, no path). A request from a page of any other origin is refused
	// 403 before Authorize is called, preflight included. "*" is refused:
	// the answer is a credential. Requests with no Origin header (programs,
	// mobile apps) and requests from the handler's own host are not
	// concerned.
	AllowedOrigins []string
	// AllowCredentials lets pages of AllowedOrigins send their cookies and
	// HTTP authentication with the request (fetch's credentials: "include"),
	// for an Authorize that reads them.
	AllowCredentials bool
	// AllowedHeaders are the request headers pages of AllowedOrigins may
	// send; Authorization and Content-Type when nil.
	AllowedHeaders []string

	// Logger receives a line per token handed out, refused, revoked or
	// deleted, with the principal but never the token; the Client's logger
	// when nil.
	Logger *slog.Logger
}

// TokenGrant is the JSON answer of a TokenHandler to a request it grants.
// Its field names are the options of the official browser uploader (npm
// @api.video/video-uploader), so that a page can spread the answer into
// them as it is:
//
//	const grant = await (await fetch("/upload-token", {method: "POST"})).json();
//	const video = await new VideoUploader({ file, ...grant }).upload();
type TokenGrant struct {
	// UploadToken is the upload token, the uploader's credential.
	UploadToken string `json:"uploadToken"`
	// APIHost is the API's host (and base path, if any), without a scheme:
	// the official uploaders prepend https://.
	APIHost string `json:"apiHost"`
	// UploadURL is the whole URL to post the video to, the token included.
	UploadURL string `json:"uploadUrl"`
	// ExpiresAt is when the token stops working, in UTC.
	ExpiresAt time.Time `json:"expiresAt"`
}

// TokenHandler is an http.Handler that hands out short-lived upload tokens
// to the requests its TokenHandlerOptions.Authorize accepts, so that
// browsers, phones and devices upload without the API key, which stays
// with the handler's Client. It answers POST with a TokenGrant in JSON,
// answers CORS preflights for the allowed origins, and refuses everything
// else with a JSON problem document ({"status", "title", "detail"}):
// 401 or 403 when Authorize refuses, 403 for an origin not allowed, 405
// for another method, 429 with Retry-After over a principal's limits, 502
// (or 503 with Retry-After when the API asks to wait) when the API does not
// mint, 503 after Close.
//
// It remembers every token it minted and deletes it at the API when it
// expires, when Revoke or RevokePrincipal is called, and at Close, so that
// none is left behind after a clean stop. (A mint whose requester left
// before the API answered is abandoned; if the API minted that token all
// the same, the handler never learns it, and it expires with its TTL.)
// Build one with NewTokenHandler;
// the zero value is not usable. It is safe for concurrent use. It runs a
// goroutine until Close.
type TokenHandler struct {
	client      *Client
	authorize   func(*http.Request) (string, error)
	ttl         time.Duration
	maxAlive    int
	maxMinted   int
	window      time.Duration
	origins     map[string]bool
	credentials bool
	headers     string
	logger      *slog.Logger
	apiHost     string
	uploadBase  string
	now         func() time.Time

	mu         sync.Mutex
	closed     bool
	tokens     map[string]*mintedToken
	principals map[string]*principalState
	inflight   sync.WaitGroup // mints under way

	wake      chan struct{} // tells the janitor the earliest due date may have changed
	stop      chan struct{}
	stopOnce  sync.Once
	stopped   chan struct{} // closed when the janitor has returned
	janitorCx context.Context
	cancelJan context.CancelFunc
}

// mintedToken is a token the handler handed out and has not deleted yet.
type mintedToken struct {
	token     string
	principal string
	expires   time.Time // on the local clock, never before the API's expiry
	revoked   bool      // deletion asked for and failed: retried at retryAt
	retryAt   time.Time
}

// principalState is what the limits of one principal count.
type principalState struct {
	minted  []time.Time // when each token of the window was asked for, oldest first
	pending int         // mints under way
	alive   map[string]*mintedToken
}

// NewTokenHandler builds a TokenHandler that mints tokens with client,
// which must hold the API key. Options are checked here: a missing
// Authorize, a TTL, limit or origin out of range is an error matching
// ErrInvalidInput. Call Close when done with it.
func NewTokenHandler(client *Client, opts TokenHandlerOptions) (*TokenHandler, error) {
	if client == nil {
		return nil, invalidInput("token handler: the client is nil")
	}
	if err := client.requireKey(); err != nil {
		return nil, err
	}
	if opts.Authorize == nil {
		return nil, invalidInput("token handler: an authorization function is required; the handler never decides who may upload by itself")
	}
	h := &TokenHandler{
		client:      client,
		authorize:   opts.Authorize,
		ttl:         cmp0(opts.TTL, DefaultTokenHandlerTTL),
		maxAlive:    cmp0(opts.MaxAlive, DefaultTokenHandlerMaxAlive),
		maxMinted:   cmp0(opts.MaxMinted, DefaultTokenHandlerMaxMinted),
		window:      cmp0(opts.Window, DefaultTokenHandlerWindow),
		origins:     map[string]bool{},
		credentials: opts.AllowCredentials,
		logger:      opts.Logger,
		now:         time.Now,
		tokens:      map[string]*mintedToken{},
		principals:  map[string]*principalState{},
		wake:        make(chan struct{}, 1),
		stop:        make(chan struct{}),
		stopped:     make(chan struct{}),
	}
	if h.ttl < time.Second || h.ttl > MaxTokenTTL || h.ttl%time.Second != 0 {
		return nil, invalidInput("token handler: token TTL %s: want whole seconds from 1s to %s", h.ttl, MaxTokenTTL)
	}
	if h.maxAlive < 0 || h.maxMinted < 0 {
		return nil, invalidInput("token handler: token limits must be positive")
	}
	if h.window < time.Second {
		return nil, invalidInput("token handler: window %s: want at least 1s", h.window)
	}
	for _, o := range opts.AllowedOrigins {
		origin, err := parseOrigin(o)
		if err != nil {
			return nil, err
		}
		h.origins[origin] = true
	}
	headers := opts.AllowedHeaders
	if headers == nil {
		headers = []string{"Authorization", "Content-Type"}
	}
	for _, name := range headers {
		if !validHeaderName(name) {
			return nil, invalidInput("token handler: allowed header %q is not a header name", name)
		}
	}
	h.headers = strings.Join(headers, ", ")
	if h.logger == nil {
		h.logger = client.logger
	}
	u, err := url.Parse(client.baseURL)
	if err != nil {
		return nil, invalidInput("token handler: base URL: %v", err)
	}
	h.apiHost = u.Host + client.basePath
	h.uploadBase = client.baseURL + "/upload?token="
	h.janitorCx, h.cancelJan = context.WithCancel(context.Background())
	go h.janitor()
	return h, nil
}

func cmp0[T int | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// parseOrigin checks an allowed origin and returns it as browsers write it.
func parseOrigin(o string) (string, error) {
	if strings.TrimSpace(o) == "*" {
		return "", invalidInput("token handler: allowed origin \"*\": name the origins; an upload token is a credential and must not be handed to any site")
	}
	u, err := url.Parse(strings.TrimSuffix(o, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.Path != "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", invalidInput("token handler: allowed origin %q: want scheme://host[:port], such as https://app.example.com", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}

// ServeHTTP answers a request for an upload token; see TokenHandler.
func (h *TokenHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if origin := r.Header.Get("Origin"); origin != "" {
		switch {
		case h.origins[strings.ToLower(origin)]:
			hdr.Set("Access-Control-Allow-Origin", origin)
			if h.credentials {
				hdr.Set("Access-Control-Allow-Credentials", "true")
			}
			hdr.Set("Access-Control-Expose-Headers", "Retry-After")
		case sameHost(origin, r.Host):
		default:
			h.logger.Info("upload token refused: origin not allowed", "origin", origin)
			h.problem(w, http.StatusForbidden, "This origin may not ask for upload tokens.", "")
			return
		}
	}
	switch r.Method {
	case http.MethodPost:
	case http.MethodOptions:
		if r.Header.Get("Access-Control-Request-Method") != "" {
			hdr.Add("Vary", "Access-Control-Request-Method")
			hdr.Add("Vary", "Access-Control-Request-Headers")
			hdr.Set("Access-Control-Allow-Methods", http.MethodPost)
			hdr.Set("Access-Control-Allow-Headers", h.headers)
			hdr.Set("Access-Control-Max-Age", "600")
		}
		hdr.Set("Allow", "OPTIONS, POST")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		hdr.Set("Allow", "OPTIONS, POST")
		h.problem(w, http.StatusMethodNotAllowed, "Upload tokens are asked for with POST.", "")
		return
	}

	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		h.problem(w, http.StatusServiceUnavailable, "The upload token service is shutting down.", "")
		return
	}
	principal, err := h.authorize(r)
	if err != nil {
		status, title := http.StatusForbidden, "You may not upload videos."
		if errors.Is(err, ErrUnauthorized) {
			status, title = http.StatusUnauthorized, "Sign in to upload videos."
		}
		h.logger.Info("upload token refused by the authorization function", "status", status)
		h.problem(w, status, title, "")
		return
	}
	if principal == "" {
		h.logger.Error("upload token refused: the authorization function accepted the request but named no principal")
		h.problem(w, http.StatusInternalServerError, "The server could not tell who asks for an upload token.", "")
		return
	}

	reserved, wait, why := h.reserve(principal)
	if !reserved {
		if wait == 0 {
			h.problem(w, http.StatusServiceUnavailable, "The upload token service is shutting down.", "")
			return
		}
		hdr.Set("Retry-After", retryAfterSeconds(wait))
		h.logger.Info("upload token refused: limit reached", "principal", principal, "limit", why)
		h.problem(w, http.StatusTooManyRequests, "Too many upload tokens.", why+"; try again in "+retryAfterSeconds(wait)+" s")
		return
	}
	tok, err := h.client.CreateUploadToken(r.Context(), h.ttl)
	done := h.now()
	if err != nil {
		h.release(principal)
		h.mintFailed(w, r, principal, err)
		return
	}
	expires := done.Add(h.ttl) // the API's expiry is earlier: its clock started first
	h.register(principal, tok.Token, expires)

	grant := TokenGrant{
		UploadToken: tok.Token,
		APIHost:     h.apiHost,
		UploadURL:   h.uploadBase + url.QueryEscape(tok.Token),
		ExpiresAt:   tok.ExpiresAt.UTC().Truncate(time.Second),
	}
	if tok.ExpiresAt.IsZero() {
		grant.ExpiresAt = expires.UTC().Truncate(time.Second)
	}
	h.logger.Debug("upload token handed out", "principal", principal, "expiresAt", grant.ExpiresAt)
	hdr.Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(grant)
}

// sameHost reports whether origin names the host the request was sent to:
// a page of the handler's own site, which CORS does not concern.
func sameHost(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && host != "" && strings.EqualFold(u.Host, host)
}

// mintFailed answers a request whose token the API did not mint.
func (h *TokenHandler) mintFailed(w http.ResponseWriter, r *http.Request, principal string, err error) {
	if r.Context().Err() != nil {
		h.logger.Debug("upload token request abandoned by the client", "principal", principal)
		h.problem(w, http.StatusServiceUnavailable, "The request was cancelled.", "")
		return
	}
	h.logger.Error("upload token not minted", "principal", principal, "error", err.Error())
	detail := "the video API could not be reached, or its answer held no token"
	var apiErr *APIError
	if errors.As(err, &apiErr) {
		detail = "the video API answered " + strconv.Itoa(apiErr.StatusCode)
		if wait := max(apiErr.ServerWait, apiErr.RateLimit.RetryAfter); apiErr.StatusCode == http.StatusTooManyRequests && wait > 0 {
			w.Header().Set("Retry-After", retryAfterSeconds(wait))
			h.problem(w, http.StatusServiceUnavailable, "The video API is busy; no upload token was minted.", detail)
			return
		}
	}
	h.problem(w, http.StatusBadGateway, "No upload token could be minted.", detail)
}

func retryAfterSeconds(d time.Duration) string {
	s := math.Ceil(d.Seconds())
	return strconv.Itoa(max(1, int(s)))
}

// problem writes a JSON problem document.
func (h *TokenHandler) problem(w http.ResponseWriter, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Status int    `json:"status"`
		Title  string `json:"title"`
		Detail string `json:"detail,omitempty"`
	}{status, title, detail})
}

// reserve takes a place for principal under both limits, or says how long
// to wait and which limit is reached. A zero wait means the handler is
// closed.
func (h *TokenHandler) reserve(principal string) (ok bool, wait time.Duration, why string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false, 0, ""
	}
	now := h.now()
	p := h.principals[principal]
	if p == nil {
		p = &principalState{alive: map[string]*mintedToken{}}
		h.principals[principal] = p
	}
	h.prune(p, now)
	alive := len(p.alive) + p.pending
	if alive >= h.maxAlive {
		wait = time.Second // a mint under way holds the last place
		first := true
		for _, m := range p.alive {
			if d := m.expires.Sub(now); first || d < wait {
				wait, first = d, false
			}
		}
		return false, max(wait, time.Second), fmt.Sprintf("at most %d upload tokens alive at once", h.maxAlive)
	}
	if len(p.minted) >= h.maxMinted {
		wait = p.minted[0].Add(h.window).Sub(now)
		return false, max(wait, time.Second), fmt.Sprintf("at most %d upload tokens per %s", h.maxMinted, h.window)
	}
	p.minted = append(p.minted, now)
	p.pending++
	h.inflight.Add(1)
	return true, 0, ""
}

// prune forgets the mints that left the window and the tokens that expired
// (the janitor deletes those at the API).
func (h *TokenHandler) prune(p *principalState, now time.Time) {
	i := 0
	for i < len(p.minted) && !now.Before(p.minted[i].Add(h.window)) {
		i++
	}
	p.minted = p.minted[i:]
	for tok, m := range p.alive {
		if !now.Before(m.expires) {
			delete(p.alive, tok)
		}
	}
}

// release gives back the place of a mint that failed: it counts against
// no limit.
func (h *TokenHandler) release(principal string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.inflight.Done()
	p := h.principals[principal]
	p.pending--
	if n := len(p.minted); n > 0 {
		p.minted = p.minted[:n-1]
	}
	h.forgetIfIdle(principal, p)
}

func (h *TokenHandler) forgetIfIdle(principal string, p *principalState) {
	if len(p.minted) == 0 && p.pending == 0 && len(p.alive) == 0 {
		delete(h.principals, principal)
	}
}

// register records a minted token, even after Close began: Close waits
// for the mints under way and deletes what they minted.
func (h *TokenHandler) register(principal, token string, expires time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	defer h.inflight.Done()
	m := &mintedToken{token: token, principal: principal, expires: expires}
	h.tokens[token] = m
	p := h.principals[principal]
	p.pending--
	p.alive[token] = m
	h.poke()
}

// poke wakes the janitor without blocking.
func (h *TokenHandler) poke() {
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// Revoke deletes a token the handler handed out, at once, and frees its
// place under the principal's MaxAlive. A token the handler does not hold
// (never minted by it, already revoked or deleted) is an error matching
// ErrNotFound, and no request is made. If the API cannot be reached, the
// error is returned and the deletion is tried again later, and at Close.
func (h *TokenHandler) Revoke(ctx context.Context, token string) error {
	h.mu.Lock()
	m := h.tokens[token]
	if m == nil || m.revoked {
		h.mu.Unlock()
		return fmt.Errorf("%w: the upload token was not handed out by this token handler, or is already revoked", ErrNotFound)
	}
	h.markRevoked(m)
	h.mu.Unlock()
	return h.deleteRevoked(ctx, m)
}

// RevokePrincipal deletes every token the handler handed out to principal
// and has not deleted yet, as Revoke does, and returns the errors of those
// it could not delete.
func (h *TokenHandler) RevokePrincipal(ctx context.Context, principal string) error {
	h.mu.Lock()
	var todo []*mintedToken
	for _, m := range h.tokens { // expired ones the janitor has not deleted yet included
		if m.principal == principal && !m.revoked {
			h.markRevoked(m)
			todo = append(todo, m)
		}
	}
	h.mu.Unlock()
	var errs []error
	for _, m := range todo {
		if err := h.deleteRevoked(ctx, m); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// markRevoked takes m out of its principal's live tokens. h.mu is held.
func (h *TokenHandler) markRevoked(m *mintedToken) {
	m.revoked = true
	m.retryAt = h.now().Add(tokenRetryRevoke)
	if p := h.principals[m.principal]; p != nil {
		delete(p.alive, m.token)
		h.forgetIfIdle(m.principal, p)
	}
}

// deleteRevoked deletes a revoked token at the API; on failure the janitor
// tries again at m.retryAt.
func (h *TokenHandler) deleteRevoked(ctx context.Context, m *mintedToken) error {
	err := h.client.DeleteUploadToken(ctx, m.token)
	if err != nil && !errors.Is(err, ErrNotFound) {
		h.logger.Warn("revoked upload token not deleted yet; trying again later", "principal", m.principal, "error", err.Error())
		h.mu.Lock()
		h.poke()
		h.mu.Unlock()
		return fmt.Errorf("revoking an upload token: %w", err)
	}
	h.forget(m)
	h.logger.Debug("upload token revoked", "principal", m.principal)
	return nil
}

// forget drops a deleted token.
func (h *TokenHandler) forget(m *mintedToken) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.tokens[m.token] == m {
		delete(h.tokens, m.token)
	}
	if p := h.principals[m.principal]; p != nil {
		delete(p.alive, m.token)
		h.forgetIfIdle(m.principal, p)
	}
}

// janitor deletes each token when it expires, and tries again the
// revoked ones whose deletion failed, until Close.
func (h *TokenHandler) janitor() {
	defer close(h.stopped)
	timer := time.NewTimer(h.window)
	defer timer.Stop()
	for {
		h.mu.Lock()
		var next time.Time
		for _, m := range h.tokens {
			due := m.expires
			if m.revoked {
				due = m.retryAt
			}
			if next.IsZero() || due.Before(next) {
				next = due
			}
		}
		h.mu.Unlock()
		// Principals are looked at once a window at least, so that those
		// who stopped asking are forgotten.
		wait := h.window
		if !next.IsZero() {
			wait = min(max(next.Sub(h.now()), 0), wait)
		}
		timer.Reset(wait)
		select {
		case <-h.stop:
			return
		case <-h.wake:
			continue // the timer is reset above (Go 1.23 timers drop a stale tick)
		case <-timer.C:
		}
		h.sweep()
		h.forgetIdlePrincipals()
	}
}

// sweep deletes the tokens that are due: expired ones once (a failure is
// logged and the token forgotten, as the API no longer takes it), revoked
// ones until the API deletes them or they expire.
func (h *TokenHandler) sweep() {
	now := h.now()
	h.mu.Lock()
	var due []*mintedToken
	for _, m := range h.tokens {
		expired := !now.Before(m.expires)
		if expired && !m.revoked {
			// From now on Revoke says it is not held, rather than
			// delete it a second time while the janitor does.
			h.markRevoked(m)
		}
		if expired || m.revoked && !now.Before(m.retryAt) {
			due = append(due, m)
		}
	}
	h.mu.Unlock()
	for _, m := range due {
		if h.janitorCx.Err() != nil {
			return
		}
		err := h.client.DeleteUploadToken(h.janitorCx, m.token)
		expired := !now.Before(m.expires)
		switch {
		case err == nil || errors.Is(err, ErrNotFound):
			h.logger.Debug("expired or revoked upload token deleted", "principal", m.principal)
			h.forget(m)
		case h.janitorCx.Err() != nil:
			return // Close deletes it
		case expired:
			h.logger.Warn("expired upload token not deleted; the API no longer takes it anyway", "principal", m.principal, "error", err.Error())
			h.forget(m)
		default:
			h.logger.Warn("revoked upload token not deleted yet; trying again later", "principal", m.principal, "error", err.Error())
			h.mu.Lock()
			m.retryAt = h.now().Add(tokenRetryRevoke)
			h.mu.Unlock()
		}
	}
}

// forgetIdlePrincipals drops the principals with no token alive, no mint
// under way and no mint left in the window.
func (h *TokenHandler) forgetIdlePrincipals() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	for name, p := range h.principals {
		h.prune(p, now)
		h.forgetIfIdle(name, p)
	}
}

// Close stops handing out tokens (requests are then answered 503), waits
// for the mints under way, and deletes at the API every token the handler
// handed out and has not deleted yet. It returns ctx's error if ctx ends
// first, and an error saying how many tokens could not be deleted if the
// API refused some; calling Close again tries those again. After a Close
// that returned nil, the handler has left no token behind.
func (h *TokenHandler) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
	h.stopOnce.Do(func() {
		h.cancelJan()
		close(h.stop)
	})
	<-h.stopped

	waited := make(chan struct{})
	go func() {
		h.inflight.Wait()
		close(waited)
	}()
	select {
	case <-waited:
	case <-ctx.Done():
		return fmt.Errorf("closing the token handler: waiting for the tokens being minted: %w", ctx.Err())
	}

	h.mu.Lock()
	left := make([]*mintedToken, 0, len(h.tokens))
	for _, m := range h.tokens {
		left = append(left, m)
	}
	h.mu.Unlock()

	const parallel = 4
	var (
		wg     sync.WaitGroup
		sem    = make(chan struct{}, parallel)
		errMu  sync.Mutex
		failed int
		first  error
	)
	for _, m := range left {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := h.client.DeleteUploadToken(ctx, m.token)
			if err == nil || errors.Is(err, ErrNotFound) {
				h.forget(m)
				return
			}
			errMu.Lock()
			failed++
			if first == nil {
				first = err
			}
			errMu.Unlock()
		}()
	}
	wg.Wait()
	if failed > 0 {
		h.logger.Error("upload tokens left at the API after closing the token handler", "count", failed, "error", first.Error())
		return fmt.Errorf("closing the token handler: %d of %d upload tokens could not be deleted: %w", failed, len(left), first)
	}
	h.logger.Debug("token handler closed", "deleted", len(left))
	return nil
}
