package sandbox

import (
	"cmp"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/oapi-codegen/nullable"

	"github.com/avupload/avupload/gen"
)

// MaxTTL is the largest token lifetime, in seconds.
const MaxTTL = 2147483647

// api implements gen.StrictServerInterface over a Sandbox.
type api struct{ s *Sandbox }

var _ gen.StrictServerInterface = (*api)(nil)

type tokenRecord struct {
	token     string
	ttl       int
	createdAt time.Time
}

func (t *tokenRecord) expiresAt() time.Time {
	return t.createdAt.Add(time.Duration(t.ttl) * time.Second)
}

func (t *tokenRecord) expired(now time.Time) bool {
	return t.ttl > 0 && !now.Before(t.expiresAt())
}

// model is the token as the API writes it: expiresAt is absent when the
// token never expires.
func (t *tokenRecord) model() gen.UploadToken {
	m := gen.UploadToken{Token: &t.token, TTL: &t.ttl, CreatedAt: stamp(t.createdAt)}
	if t.ttl > 0 {
		m.ExpiresAt = nullable.NewNullableWithValue(*stamp(t.expiresAt()))
	}
	return m
}

// CreateToken creates an upload token directly, without HTTP; a ttl of 0
// makes a token that never expires. The lifetime is counted in whole seconds.
func (s *Sandbox) CreateToken(ttl time.Duration) (string, error) {
	if ttl < 0 || ttl > MaxTTL*time.Second || ttl%time.Second != 0 {
		return "", fmt.Errorf("sandbox: CreateToken: ttl must be whole seconds between 0 and %ds, got %v", MaxTTL, ttl)
	}
	t, err := s.createToken(int(ttl / time.Second))
	if err != nil {
		return "", err
	}
	return t.token, nil
}

// createToken mints a token and, with a data directory, stores it before
// anyone can see it.
func (s *Sandbox) createToken(ttl int) (*tokenRecord, error) {
	s.mu.Lock()
	var t *tokenRecord
	for {
		t = &tokenRecord{token: randomID("to", 22), ttl: ttl, createdAt: s.cfg.now()}
		if _, dup := s.tokens[t.token]; !dup {
			s.tokens[t.token] = t
			break
		}
	}
	s.mu.Unlock()
	if s.disk != nil {
		if err := s.disk.saveToken(t); err != nil {
			s.mu.Lock()
			delete(s.tokens, t.token)
			s.mu.Unlock()
			return nil, err
		}
	}
	return t, nil
}

// forgetToken removes a token; s.mu is held.
func (s *Sandbox) forgetToken(token string) {
	delete(s.tokens, token)
	if s.disk != nil {
		s.disk.removeToken(token)
	}
}

// liveToken returns the token if it exists and has not expired; expired
// tokens are forgotten.
func (s *Sandbox) liveToken(token string) (*tokenRecord, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[token]
	if !ok {
		return nil, false
	}
	if t.expired(s.cfg.now()) {
		s.forgetToken(token)
		return nil, false
	}
	return t, true
}

// checkAPIKey checks the credentials of the token routes: HTTP Basic with
// the API key as the user name, or a bearer access token.
func (s *Sandbox) checkAPIKey(r *http.Request) (problem, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return problem{Type: typeMissingAuthHeader, Title: `The "Authorization" header is missing.`}, false
	}
	invalid := problem{Type: typeInvalidAuthHeader, Title: `The "Authorization" header value is invalid.`,
		Detail: `expected "Basic " followed by base64 of "API_KEY:", or "Bearer " followed by an access token`}
	scheme, cred, ok := strings.Cut(h, " ")
	if ok && strings.EqualFold(scheme, "Bearer") {
		return s.checkBearer(strings.TrimSpace(cred))
	}
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return invalid, false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return invalid, false
	}
	user, _, ok := strings.Cut(string(raw), ":")
	if !ok {
		return invalid, false
	}
	for _, k := range s.cfg.apiKeys {
		if user == k {
			return problem{}, true
		}
	}
	return problem{Type: typeInvalidAPIKey, Title: "The API key is invalid."}, false
}

// checkUploadTokenParam checks the token query parameter of an upload.
func (s *Sandbox) checkUploadTokenParam(token string) (problem, bool) {
	if token == "" {
		return problem{Type: typeMissingUploadToken, Title: "The upload token is missing.", Name: "token"}, false
	}
	if _, ok := s.liveToken(token); !ok {
		return problem{Type: typeInvalidUploadToken, Title: "The upload token is invalid or expired.", Name: "token"}, false
	}
	return problem{}, true
}

func ttlProblem(detail string) *apiError {
	return badRequest(typeInvalidAttribute,
		fmt.Sprintf(`The "ttl" attribute must be an integer between 0 and %d.`, MaxTTL), "ttl", detail)
}

// CreateUploadToken implements POST /upload-tokens.
func (a *api) CreateUploadToken(_ context.Context, req gen.CreateUploadTokenRequestObject) (gen.CreateUploadTokenResponseObject, error) {
	ttl := 0
	if req.Body != nil && req.Body.TTL != nil {
		ttl = *req.Body.TTL
	}
	if ttl < 0 || ttl > MaxTTL {
		return gen.CreateUploadToken400JSONResponse{BadRequestJSONResponse: gen.BadRequestJSONResponse{
			Body: ttlProblem(fmt.Sprintf("got %d", ttl)).p.badRequestBody(),
		}}, nil
	}
	t, err := a.s.createToken(ttl)
	if sf := (storageFailure{}); errors.As(err, &sf) {
		e := a.s.storageProblem(err)
		e.p.Name = ""
		if e.status == http.StatusInsufficientStorage {
			e.p.Detail = "the disk that holds the sandbox's data directory has no space left; free some space and create the token again"
		}
		return sandboxLimit{status: e.status, body: e.p.wire(e.status)}, nil
	}
	if err != nil {
		return nil, err
	}
	return gen.CreateUploadToken200JSONResponse{Body: t.model()}, nil
}

// GetUploadToken implements GET /upload-tokens/{uploadToken}.
func (a *api) GetUploadToken(_ context.Context, req gen.GetUploadTokenRequestObject) (gen.GetUploadTokenResponseObject, error) {
	t, ok := a.s.liveToken(req.UploadToken)
	if !ok {
		return gen.GetUploadToken404JSONResponse{NotFoundJSONResponse: tokenNotFound()}, nil
	}
	return gen.GetUploadToken200JSONResponse{Body: t.model()}, nil
}

// DeleteUploadToken implements DELETE /upload-tokens/{uploadToken}.
func (a *api) DeleteUploadToken(_ context.Context, req gen.DeleteUploadTokenRequestObject) (gen.DeleteUploadTokenResponseObject, error) {
	if _, ok := a.s.liveToken(req.UploadToken); !ok {
		return gen.DeleteUploadToken404JSONResponse{NotFoundJSONResponse: tokenNotFound()}, nil
	}
	a.s.mu.Lock()
	_, ok := a.s.tokens[req.UploadToken]
	if ok {
		a.s.forgetToken(req.UploadToken)
	}
	a.s.mu.Unlock()
	if !ok { // deleted concurrently
		return gen.DeleteUploadToken404JSONResponse{NotFoundJSONResponse: tokenNotFound()}, nil
	}
	return gen.DeleteUploadToken204Response{}, nil
}

// tokenNotFound is the 404 for an unknown or expired upload token.
func tokenNotFound() gen.NotFoundJSONResponse {
	typ, title, name, status := typeNotFound, "The requested resource was not found.", "uploadToken", http.StatusNotFound
	return gen.NotFoundJSONResponse{Body: gen.NotFound{Type: &typ, Title: &title, Name: &name, Status: &status}}
}

func invalidListParam(name string) *apiError {
	var title string
	switch name {
	case "sortBy":
		title = `The "sortBy" parameter must be one of: createdAt, ttl.`
	case "sortOrder":
		title = `The "sortOrder" parameter must be one of: asc, desc.`
	case "currentPage":
		title = `The "currentPage" parameter must be an integer greater than or equal to 1.`
	case "pageSize":
		title = `The "pageSize" parameter must be an integer between 1 and 100.`
	}
	return badRequest(typeInvalidAttribute, title, name, "")
}

// ListUploadTokens implements GET /upload-tokens. Without sortBy and
// sortOrder the newest token comes first, as in the published example; with
// either, sortBy defaults to createdAt and sortOrder to asc. Ties are broken by
// the token, so pages never repeat or skip a token.
func (a *api) ListUploadTokens(_ context.Context, req gen.ListUploadTokensRequestObject) (gen.ListUploadTokensResponseObject, error) {
	q, bad := parseListQuery(req.Params)
	if bad != "" {
		return gen.ListUploadTokens400JSONResponse{BadRequestJSONResponse: gen.BadRequestJSONResponse{
			Body: invalidListParam(bad).p.badRequestBody(),
		}}, nil
	}
	all := a.s.liveTokens()
	q.sort(all)

	total := len(all)
	pages := (total + q.size - 1) / q.size
	out := gen.TokenListResponse{Data: []gen.UploadToken{}}
	if q.page <= pages { // compared first: (page-1)*size may overflow
		start := (q.page - 1) * q.size
		for _, t := range all[start:min(start+q.size, total)] {
			out.Data = append(out.Data, t.model())
		}
	}
	page, size, items := q.page, q.size, len(out.Data)
	out.Pagination = gen.Pagination{
		CurrentPage: &page, CurrentPageItems: &items, PageSize: &size, PagesTotal: &pages, ItemsTotal: &total,
		Links: q.links(pages),
	}
	return tokenPageAnswer{Body: out}, nil
}

// listQuery is what a token list asks for, defaults filled in.
type listQuery struct {
	sortBy, sortOrder string
	page, size        int
	// namedSortBy and namedSortOrder say which sort parameters the
	// request named: its links repeat those.
	namedSortBy, namedSortOrder bool
}

// parseListQuery reads the list's parameters, or names the first invalid one.
// The order is by creation, newest first, unless the request names a sort:
// then it is ascending unless it says otherwise.
func parseListQuery(p gen.ListUploadTokensParams) (q listQuery, invalid string) {
	q = listQuery{sortBy: "createdAt", sortOrder: "desc", page: 1, size: 25,
		namedSortBy: p.SortBy != nil, namedSortOrder: p.SortOrder != nil}
	if p.SortBy != nil || p.SortOrder != nil {
		q.sortOrder = "asc"
	}
	if p.SortBy != nil {
		if !p.SortBy.Valid() {
			return listQuery{}, "sortBy"
		}
		q.sortBy = string(*p.SortBy)
	}
	if p.SortOrder != nil {
		if !p.SortOrder.Valid() {
			return listQuery{}, "sortOrder"
		}
		q.sortOrder = string(*p.SortOrder)
	}
	if p.CurrentPage != nil {
		if *p.CurrentPage < 1 {
			return listQuery{}, "currentPage"
		}
		q.page = *p.CurrentPage
	}
	if p.PageSize != nil {
		if *p.PageSize < 1 || *p.PageSize > 100 {
			return listQuery{}, "pageSize"
		}
		q.size = *p.PageSize
	}
	return q, ""
}

// liveTokens returns the tokens that have not expired, and forgets the others.
func (s *Sandbox) liveTokens() []*tokenRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.now()
	all := make([]*tokenRecord, 0, len(s.tokens))
	for k, t := range s.tokens {
		if t.expired(now) {
			s.forgetToken(k)
			continue
		}
		all = append(all, t)
	}
	return all
}

// sort orders tokens as q asks, by token when the field ties.
func (q listQuery) sort(tokens []*tokenRecord) {
	slices.SortFunc(tokens, func(x, y *tokenRecord) int {
		var c int
		if q.sortBy == "ttl" {
			c = cmp.Compare(x.ttl, y.ttl)
		} else {
			c = x.createdAt.Compare(y.createdAt)
		}
		if c == 0 {
			c = strings.Compare(x.token, y.token)
		}
		if q.sortOrder == "desc" {
			c = -c
		}
		return c
	})
}

// links returns the pagination links of q's page among pages: self, first,
// previous and next when there are, and last.
func (q listQuery) links(pages int) []gen.PaginationLink {
	link := func(rel gen.PaginationLinkRel, n int) gen.PaginationLink {
		v := "currentPage=" + strconv.Itoa(n) + "&pageSize=" + strconv.Itoa(q.size)
		if q.namedSortBy {
			v += "&sortBy=" + url.QueryEscape(q.sortBy)
		}
		if q.namedSortOrder {
			v += "&sortOrder=" + url.QueryEscape(q.sortOrder)
		}
		uri := "/upload-tokens?" + v
		return gen.PaginationLink{Rel: &rel, URI: &uri}
	}
	last := max(pages, 1)
	links := []gen.PaginationLink{link(gen.PaginationLinkRelSelf, q.page), link(gen.PaginationLinkRelFirst, 1)}
	if q.page > 1 {
		links = append(links, link(gen.PaginationLinkRelPrevious, min(q.page-1, last)))
	}
	if q.page < pages {
		links = append(links, link(gen.PaginationLinkRelNext, q.page+1))
	}
	return append(links, link(gen.PaginationLinkRelLast, last))
}
