package wrapper

import (
	"context"
	"encoding/json"
	"errors"
	"iter"
	"math"
	"net/url"
	"strconv"
	"time"

	"github.com/avupload/avupload/gen"
)

// MaxTokenTTL is the longest lifetime an upload token may be given.
const MaxTokenTTL = math.MaxInt32 * time.Second

// MaxPageSize is the largest page ListUploadTokens may ask for.
const MaxPageSize = 100

// UploadToken is an upload token: the credential an uploader holds instead of
// the API key. The zero value is not a token.
type UploadToken struct {
	// Token is the token itself, passed to uploads. Treat it as a secret.
	Token string
	// TTL is the token's lifetime, whole seconds; 0 means it never expires.
	TTL time.Duration
	// CreatedAt is when the token was minted.
	CreatedAt time.Time
	// ExpiresAt is when the token stops working; zero when it never expires.
	ExpiresAt time.Time

	raw string // the token's JSON object, as received
}

// RawJSON returns the token's JSON object byte for byte as the API sent it:
// the whole answer of CreateUploadToken and GetUploadToken, or the token's
// entry in a list's data. It is nil for a token that was not received. The
// result is a copy.
func (t UploadToken) RawJSON() json.RawMessage { return rawJSON(t.raw) }

// NeverExpires reports whether the token has no expiry date.
func (t UploadToken) NeverExpires() bool { return t.ExpiresAt.IsZero() }

// SortBy names the field a token list is sorted by.
type SortBy string

// The fields a token list can be sorted by.
const (
	SortByCreatedAt SortBy = "createdAt"
	SortByTTL       SortBy = "ttl"
)

// SortOrder is the direction of a sort.
type SortOrder string

// The directions of a sort.
const (
	SortAsc  SortOrder = "asc"
	SortDesc SortOrder = "desc"
)

// ListOptions selects a page of upload tokens. Every zero field leaves the
// choice to the server: its own sort, page 1, 25 tokens a page.
type ListOptions struct {
	// SortBy is the field to sort by: SortByCreatedAt or SortByTTL.
	SortBy SortBy
	// SortOrder is the direction: SortAsc or SortDesc.
	SortOrder SortOrder
	// Page is the page to return, counted from 1.
	Page int
	// PageSize is the number of tokens a page holds, 1 to MaxPageSize.
	PageSize int
}

func (o ListOptions) validate() error {
	switch o.SortBy {
	case "", SortByCreatedAt, SortByTTL:
	default:
		return invalidInput("sort by %q: want %q or %q", o.SortBy, SortByCreatedAt, SortByTTL)
	}
	switch o.SortOrder {
	case "", SortAsc, SortDesc:
	default:
		return invalidInput("sort order %q: want %q or %q", o.SortOrder, SortAsc, SortDesc)
	}
	if o.Page < 0 {
		return invalidInput("page %d: pages are counted from 1", o.Page)
	}
	if o.PageSize < 0 || o.PageSize > MaxPageSize {
		return invalidInput("page size %d: want 1 to %d", o.PageSize, MaxPageSize)
	}
	return nil
}

// params turns the options into the generated client's query parameters,
// leaving out the zero ones.
func (o ListOptions) params() *gen.ListUploadTokensParams {
	var p gen.ListUploadTokensParams
	if o.SortBy != "" {
		by := gen.ListUploadTokensParamsSortBy(o.SortBy)
		p.SortBy = &by
	}
	if o.SortOrder != "" {
		order := gen.ListUploadTokensParamsSortOrder(o.SortOrder)
		p.SortOrder = &order
	}
	if o.Page != 0 {
		p.CurrentPage = &o.Page
	}
	if o.PageSize != 0 {
		p.PageSize = &o.PageSize
	}
	return &p
}

// TokenPage is one page of upload tokens and where it stands in the list.
type TokenPage struct {
	// Tokens are the page's tokens, in the order asked for.
	Tokens []UploadToken
	// Pagination says where the page stands in the whole list.
	Pagination Pagination

	raw []byte // the answer's body, as received
}

// RawJSON returns the page's answer (the API's TokenListResponse) byte for
// byte as the API sent it. The result is a copy.
func (p *TokenPage) RawJSON() json.RawMessage { return rawJSON(string(p.raw)) }

// HasNext reports whether another page follows this one.
func (p *TokenPage) HasNext() bool {
	return p.Pagination.Links.Next != "" || p.Pagination.Page < p.Pagination.PagesTotal
}

// Pagination says where a page stands in the whole list.
type Pagination struct {
	// Page is the number of this page, counted from 1.
	Page int
	// PageSize is the number of items a page holds at most.
	PageSize int
	// PagesTotal is the number of pages in the whole list.
	PagesTotal int
	// ItemsTotal is the number of items in the whole list.
	ItemsTotal int
	// PageItems is the number of items on this page.
	PageItems int
	// Links leads to the other pages of the list.
	Links PageLinks
}

// PageLinks are the server-relative URIs of the pages around a page, such as
// "/upload-tokens?currentPage=2&pageSize=25". A page the server names no link
// for is empty.
type PageLinks struct {
	Self, First, Previous, Next, Last string
}

// CreateUploadToken mints an upload token that lives for ttl, or forever
// when ttl is 0. ttl must be whole seconds, at most MaxTokenTTL; anything else
// is refused with ErrInvalidInput before any request. It needs the API key.
//
// Like every call, it is retried after a lost connection or a 5xx answer;
// if a first try minted a token whose answer was lost, that token stays
// unused until it expires (or forever with a ttl of 0).
func (c *Client) CreateUploadToken(ctx context.Context, ttl time.Duration) (UploadToken, error) {
	if err := c.requireKey(); err != nil {
		return UploadToken{}, err
	}
	if ttl < 0 || ttl > MaxTokenTTL || ttl%time.Second != 0 {
		return UploadToken{}, invalidInput("token TTL %s: want whole seconds from 0 to %s", ttl, MaxTokenTTL)
	}
	seconds := int(ttl / time.Second)
	resp, err := c.api.CreateUploadToken(ctx, gen.TokenCreationPayload{TTL: &seconds})
	var body gen.UploadToken
	raw, err := c.decodeRaw(opCreateToken, resp, err, &body)
	if err != nil {
		return UploadToken{}, err
	}
	t := newUploadToken(body, raw)
	if t.Token == "" {
		return UploadToken{}, &OpError{Op: opCreateToken, Err: errors.New("the answer holds no token")}
	}
	return t, nil
}

// GetUploadToken returns the token's details. An unknown or expired token is
// an *APIError matching ErrNotFound. It needs the API key.
func (c *Client) GetUploadToken(ctx context.Context, token string) (UploadToken, error) {
	if err := c.checkTokenCall(token); err != nil {
		return UploadToken{}, err
	}
	resp, err := c.api.GetUploadToken(ctx, token)
	var body gen.UploadToken
	raw, err := c.decodeRaw(opGetToken, resp, err, &body, token)
	if err != nil {
		return UploadToken{}, err
	}
	return newUploadToken(body, raw), nil
}

// DeleteUploadToken revokes the token at once. An unknown or expired token is
// an *APIError matching ErrNotFound. It needs the API key.
func (c *Client) DeleteUploadToken(ctx context.Context, token string) error {
	if err := c.checkTokenCall(token); err != nil {
		return err
	}
	resp, err := c.api.DeleteUploadToken(ctx, token)
	return c.decode(opDeleteToken, resp, err, nil, token)
}

func (c *Client) checkTokenCall(token string) error {
	if err := c.requireKey(); err != nil {
		return err
	}
	if token == "" {
		return invalidInput("upload token is empty")
	}
	return nil
}

// ListUploadTokens returns one page of the account's live upload tokens.
// Options are checked before any request. It needs the API key.
func (c *Client) ListUploadTokens(ctx context.Context, opts ListOptions) (*TokenPage, error) {
	if err := c.requireKey(); err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	resp, err := c.api.ListUploadTokens(ctx, opts.params())
	var body gen.TokenListResponse
	raw, err := c.decodeRaw(opListTokens, resp, err, &body)
	if err != nil {
		return nil, err
	}
	// Each token keeps its own entry of data, as received.
	var entries struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &entries); err != nil || len(entries.Data) != len(body.Data) {
		entries.Data = make([]json.RawMessage, len(body.Data))
	}
	page := &TokenPage{
		Tokens:     make([]UploadToken, 0, len(body.Data)),
		Pagination: newPagination(body.Pagination),
		raw:        raw,
	}
	for i, t := range body.Data {
		page.Tokens = append(page.Tokens, newUploadToken(t, entries.Data[i]))
	}
	return page, nil
}

// AllUploadTokens iterates over every token of the list opts selects, from
// opts.Page (or the first page) on. Pages are fetched lazily, one request
// each, as the loop reaches them; breaking out of the loop sends no further
// request. A failure is yielded once, with a zero UploadToken, and ends the
// iteration.
//
//	for t, err := range client.AllUploadTokens(ctx, wrapper.ListOptions{PageSize: 100}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(t.CreatedAt)
//	}
func (c *Client) AllUploadTokens(ctx context.Context, opts ListOptions) iter.Seq2[UploadToken, error] {
	return func(yield func(UploadToken, error) bool) {
		for {
			page, err := c.ListUploadTokens(ctx, opts)
			if err != nil {
				yield(UploadToken{}, err)
				return
			}
			for _, t := range page.Tokens {
				if !yield(t, nil) {
					return
				}
			}
			if !page.HasNext() || len(page.Tokens) == 0 {
				return
			}
			next := page.nextPage(opts.Page)
			if next <= max(opts.Page, 1) {
				yield(UploadToken{}, &OpError{Op: opListTokens, Err: errors.New("the next page link does not move forward")})
				return
			}
			opts.Page = next
		}
	}
}

// nextPage is the number of the page after this one, read from the next
// link, or else this page's number plus one. asked is the page that was
// requested, 0 for the server's default.
func (p *TokenPage) nextPage(asked int) int {
	if link := p.Pagination.Links.Next; link != "" {
		if u, err := url.Parse(link); err == nil {
			if n, err := strconv.Atoi(u.Query().Get("currentPage")); err == nil {
				return n
			}
		}
	}
	current := p.Pagination.Page
	if current == 0 {
		current = max(asked, 1)
	}
	return current + 1
}

// newUploadToken copies the generated model into an UploadToken; raw is the
// JSON object it was decoded from.
func newUploadToken(g gen.UploadToken, raw []byte) UploadToken {
	t := UploadToken{raw: string(raw)}
	if g.Token != nil {
		t.Token = *g.Token
	}
	if g.TTL != nil {
		t.TTL = time.Duration(*g.TTL) * time.Second
	}
	if g.CreatedAt != nil {
		t.CreatedAt = g.CreatedAt.Time
	}
	t.ExpiresAt = nullableTime(g.ExpiresAt)
	if t.ExpiresAt.IsZero() && t.TTL > 0 && !t.CreatedAt.IsZero() {
		t.ExpiresAt = t.CreatedAt.Add(t.TTL)
	}
	return t
}

func newPagination(g gen.Pagination) Pagination {
	p := Pagination{
		Page:       orZero(g.CurrentPage),
		PageSize:   orZero(g.PageSize),
		PagesTotal: orZero(g.PagesTotal),
		ItemsTotal: orZero(g.ItemsTotal),
		PageItems:  orZero(g.CurrentPageItems),
	}
	for _, l := range g.Links {
		if l.Rel == nil || l.URI == nil {
			continue
		}
		switch *l.Rel {
		case gen.PaginationLinkRelSelf:
			p.Links.Self = *l.URI
		case gen.PaginationLinkRelFirst:
			p.Links.First = *l.URI
		case gen.PaginationLinkRelPrevious:
			p.Links.Previous = *l.URI
		case gen.PaginationLinkRelNext:
			p.Links.Next = *l.URI
		case gen.PaginationLinkRelLast:
			p.Links.Last = *l.URI
		}
	}
	return p
}
