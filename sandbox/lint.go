package sandbox

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
)

// Lint rules: the mistakes of a client that the sandbox notices. A correct
// client never makes them. They name findings in [LintReport].
const (
	// LintChunkWithoutVideoID is a chunk after the first ("part N/M" with
	// N > 1, or a byte range that does not start at 0) sent without the
	// videoId the first chunk's answer returned: the API starts a new video
	// with it, and the upload silently becomes several broken videos.
	LintChunkWithoutVideoID = "chunk-without-video-id"
	// LintSmallChunk is a chunk but the last under 5 MiB.
	LintSmallChunk = "small-chunk"
	// LintOverlapOtherBytes is a range (or part) that overlaps one already
	// stored, with other bytes: not a retry, a client that mixes up its
	// offsets. Sending the same bytes again is a retry, not a finding.
	LintOverlapOtherBytes = "overlap-with-other-bytes"
	// LintTotalChanged is a total size (or number of parts) that differs
	// from the one an earlier chunk of the video set.
	LintTotalChanged = "total-changed"
	// LintTokenAsAPIKey is an upload token sent as the API key (in the
	// Authorization header of a token route).
	LintTokenAsAPIKey = "upload-token-as-api-key"
	// LintAPIKeyAsToken is the API key sent as an upload token (the token
	// parameter of an upload): the uploader holds the key it must never see.
	LintAPIKeyAsToken = "api-key-as-upload-token"
)

// WithStrict makes the sandbox a stricter judge than the API: besides
// answering as the API would, it refuses with 400, and a problem whose
// detail names the mistake and its fix, a chunk after the first without
// videoId, which the API takes as the start of another video. Mistakes the
// API refuses too (a small chunk, an overlap with other bytes, a changed
// total, a token where the API key belongs or the reverse) get the API's
// answer with a detail that names the mistake and its fix. Without strict
// mode the sandbox answers as the API does and logs a warning for each.
// Either way [Sandbox.Lint] and GET /_sandbox/lint list what was seen.
// sandboxtest.NewServer turns it on unless given WithStrict(false).
func WithStrict(on bool) Option {
	return func(c *config) error {
		c.strict = on
		return nil
	}
}

// LintReport is what a Sandbox saw clients do wrong, per client.
type LintReport struct {
	// Strict reports whether the sandbox refused the mistakes (WithStrict).
	Strict bool `json:"strict"`
	// Clients lists the clients that made mistakes, in the order of their
	// first one.
	Clients []LintClient `json:"clients"`
}

// LintClient is one client's mistakes.
type LintClient struct {
	// Client and App are the AV-Origin-Client and AV-Origin-App headers the
	// requests carried, such as "go:1.4.5"; empty when absent.
	Client string `json:"client"`
	App    string `json:"app"`
	// Findings lists each rule the client broke, in the order of its first
	// breach.
	Findings []LintFinding `json:"findings"`
}

// LintFinding is one rule a client broke.
type LintFinding struct {
	// Rule is one of the Lint* constants.
	Rule string `json:"rule"`
	// Count is how many requests broke it.
	Count int `json:"count"`
	// Detail describes the first of them, and the fix.
	Detail string `json:"detail"`
}

// Findings returns every finding of every client, rule by rule.
func (r LintReport) Findings() []LintFinding {
	var out []LintFinding
	for _, c := range r.Clients {
		out = append(out, c.Findings...)
	}
	return out
}

// Lint returns what the sandbox saw clients do wrong.
func (s *Sandbox) Lint() LintReport { return s.lint.report(s.cfg.strict) }

// maxLintClients bounds the clients a lint report keeps apart; later ones
// share one entry, so that a client sending random headers cannot grow it.
const maxLintClients = 100

type lintKey struct{ client, app string }

type lintRecorder struct {
	mu      sync.Mutex
	order   []lintKey
	clients map[lintKey]*LintClient
}

func (l *lintRecorder) record(k lintKey, rule, detail string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil {
		l.clients = map[lintKey]*LintClient{}
	}
	c := l.clients[k]
	if c == nil {
		if len(l.order) >= maxLintClients {
			k = lintKey{client: "(other clients)"}
			c = l.clients[k]
		}
		if c == nil {
			c = &LintClient{Client: k.client, App: k.app}
			l.clients[k] = c
			l.order = append(l.order, k)
		}
	}
	i := slices.IndexFunc(c.Findings, func(f LintFinding) bool { return f.Rule == rule })
	if i < 0 {
		c.Findings = append(c.Findings, LintFinding{Rule: rule, Detail: detail})
		i = len(c.Findings) - 1
	}
	c.Findings[i].Count++
}

func (l *lintRecorder) report(strict bool) LintReport {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := LintReport{Strict: strict, Clients: []LintClient{}}
	for _, k := range l.order {
		c := *l.clients[k]
		c.Findings = slices.Clone(c.Findings)
		r.Clients = append(r.Clients, c)
	}
	return r
}

type lintClientKey struct{}

// clientOf reads the client's identity from its AV-Origin headers.
func clientOf(r *http.Request) lintKey {
	clip := func(s string) string {
		s = strings.TrimSpace(s)
		if len(s) > 120 {
			s = s[:120]
		}
		return s
	}
	return lintKey{client: clip(r.Header.Get("AV-Origin-Client")), app: clip(r.Header.Get("AV-Origin-App"))}
}

// finding records a client's mistake and logs it. It returns the detail
// the answer carries: the mistake and its fix.
func (s *Sandbox) finding(ctx context.Context, rule, detail string) string {
	k, _ := ctx.Value(lintClientKey{}).(lintKey)
	s.lint.record(k, rule, detail)
	msg := "sandbox lint: a client sent what a correct client never sends"
	if s.cfg.strict {
		msg = "sandbox strict mode: refused a client's mistake"
	}
	s.cfg.logger.Warn(msg, "rule", rule, "client", k.client, "app", k.app, "detail", detail)
	return detail
}

// withDetail returns e with the detail of a finding.
func withDetail(e *apiError, detail string) *apiError {
	c := *e
	c.p.Detail = detail
	return &c
}

// lintMissingVideoID checks a chunk sent without videoId. It returns the
// refusal under strict mode, nil otherwise.
func (s *Sandbox) lintMissingVideoID(ctx context.Context, c contentRange) *apiError {
	if c.unit == unitPart && c.part <= 1 || c.unit == unitBytes && c.from == 0 {
		return nil
	}
	what := fmt.Sprintf("the chunk %q", c.String())
	detail := s.finding(ctx, LintChunkWithoutVideoID, what+" was sent without videoId, so it starts a new video: "+
		"every chunk after the first must carry, as the multipart field videoId, the videoId that the answer to the first chunk returned")
	if !s.cfg.strict {
		return nil
	}
	return badRequest(typeInvalidAttribute, "The chunk has no videoId (refused by the sandbox's strict mode).", "videoId",
		detail)
}

// lintRefusal records what an API refusal of a chunk says about the client
// and, under strict mode, names the mistake and its fix in the refusal.
func (s *Sandbox) lintRefusal(ctx context.Context, e *apiError, rule, fix string) *apiError {
	detail := s.finding(ctx, rule, e.p.Detail+": "+fix)
	if !s.cfg.strict {
		return e
	}
	return withDetail(e, detail)
}

// lintChunk reads an API refusal of a chunk: a small chunk, an overlap or
// a changed total is a finding. Other refusals pass unchanged.
func (s *Sandbox) lintChunk(ctx context.Context, e *apiError, v *video, c contentRange, b blob) *apiError {
	switch {
	case strings.Contains(e.p.Title, "smaller than"):
		return s.lintRefusal(ctx, e, LintSmallChunk,
			fmt.Sprintf("every chunk but the last must hold at least %d bytes (5 MiB); clients send 50 MiB chunks by default", MinChunkSize))
	case strings.Contains(e.p.Title, "differs from the one already set"):
		return s.lintRefusal(ctx, e, LintTotalChanged,
			"every chunk of a video must announce the same total: the size of the whole file (or its number of parts)")
	case v != nil && (strings.Contains(e.p.Title, "overlaps") || strings.Contains(e.p.Title, "collides")):
		if !v.overlapDiffers(c, b) {
			return e // the same bytes again: a retry
		}
		return s.lintRefusal(ctx, e, LintOverlapOtherBytes,
			"and the bytes differ from those already stored there: the client sent other bytes for the same place of the file, "+
				"so it mixes up its offsets or its chunks; send each range of the file once, with the file's bytes at that offset")
	}
	return e
}

// overlapDiffers reports whether chunk c, whose bytes are b, holds other
// bytes than the video already holds where they overlap; v.mu is held.
func (v *video) overlapDiffers(c contentRange, b blob) bool {
	for _, ch := range v.chunks {
		switch {
		case c.unit == unitPart && ch.part == c.part:
			return !sameBytes(ch.b, 0, b, 0, max(ch.b.size(), b.size()))
		case c.unit == unitBytes && c.from <= ch.to && ch.from <= c.to:
			from, to := max(c.from, ch.from), min(c.to, ch.to)
			if !sameBytes(ch.b, from-ch.from, b, from-c.from, to-from+1) {
				return true
			}
		}
	}
	return false
}

// sameBytes compares n bytes of a from offset oa with n bytes of b from ob.
// A blob that cannot be read, or is shorter, compares different.
func sameBytes(a blob, oa int64, b blob, ob, n int64) bool {
	if a.size() < oa+n || b.size() < ob+n {
		return false
	}
	ra, err := a.open()
	if err != nil {
		return false
	}
	defer ra.Close()
	rb, err := b.open()
	if err != nil {
		return false
	}
	defer rb.Close()
	if _, err := io.CopyN(io.Discard, ra, oa); err != nil {
		return false
	}
	if _, err := io.CopyN(io.Discard, rb, ob); err != nil {
		return false
	}
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	for n > 0 {
		k := min(n, int64(len(bufA)))
		if _, err := io.ReadFull(ra, bufA[:k]); err != nil {
			return false
		}
		if _, err := io.ReadFull(rb, bufB[:k]); err != nil {
			return false
		}
		if !bytes.Equal(bufA[:k], bufB[:k]) {
			return false
		}
		n -= k
	}
	return true
}

// lintAPIKeyCredential looks at the credentials a token route refused: an
// upload token in place of the API key is a finding.
func (s *Sandbox) lintAPIKeyCredential(r *http.Request, p problem) problem {
	scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	cred = strings.TrimSpace(cred)
	if strings.EqualFold(scheme, "Basic") {
		if raw, err := base64.StdEncoding.DecodeString(cred); err == nil {
			cred, _, _ = strings.Cut(string(raw), ":")
		}
	}
	if cred == "" {
		return p
	}
	if _, ok := s.liveToken(cred); !ok {
		return p
	}
	detail := s.finding(r.Context(), LintTokenAsAPIKey, "the Authorization header carries an upload token: the token routes take the API key "+
		`("Basic " and base64 of "API_KEY:"); an upload token goes only in the token parameter of POST /upload`)
	if s.cfg.strict {
		p.Detail = detail
	}
	return p
}

// lintUploadCredential looks at a token parameter an upload refused: the
// API key (or an access token) in place of an upload token is a finding.
func (s *Sandbox) lintUploadCredential(r *http.Request, token string, p problem) problem {
	if token == "" || !slices.Contains(s.cfg.apiKeys, token) && !s.bearer.valid(token, s.cfg.now()) {
		return p
	}
	detail := s.finding(r.Context(), LintAPIKeyAsToken, "the token parameter carries the API key (or an access token made from it): "+
		"an uploader must never hold the API key; create an upload token with POST /upload-tokens and send that")
	if s.cfg.strict {
		p.Detail = detail
	}
	return p
}
