package wrapper

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

var created = time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC)

func TestCreateUploadTokenRefusesBadTTLs(t *testing.T) {
	tests := []struct {
		name string
		ttl  time.Duration
	}{
		{name: "negative", ttl: -time.Second},
		{name: "not whole seconds", ttl: 1500 * time.Millisecond},
		{name: "under a second", ttl: time.Nanosecond},
		{name: "above the maximum", ttl: MaxTokenTTL + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, tokenJSON) })
			c, _ := newTestClient(t, f)
			tok, err := c.CreateUploadToken(t.Context(), tt.ttl)
			assert.ErrorIs(t, err, ErrInvalidInput)
			assert.Zero(t, tok)
			assert.Zero(t, f.count(), "no request for a refused TTL")
		})
	}
}

func TestCreateUploadToken(t *testing.T) {
	tests := []struct {
		name     string
		ttl      time.Duration
		answer   string
		wantBody string
		want     UploadToken
	}{
		{
			name: "an hour", ttl: time.Hour, answer: tokenJSON, wantBody: `{"ttl":3600}`,
			want: UploadToken{Token: "to1tcmSFHeYY5KzyhOqVKMKb", TTL: time.Hour, CreatedAt: created, ExpiresAt: created.Add(time.Hour)},
		},
		{
			name: "forever", ttl: 0, answer: foreverTokenJSON, wantBody: `{"ttl":0}`,
			want: UploadToken{Token: "to1tcmSFHeYY5KzyhOqVKMKb", CreatedAt: created},
		},
		{
			name: "the maximum", ttl: MaxTokenTTL, answer: `{"token":"to1","ttl":2147483647,"createdAt":"2020-12-02T10:13:19+00:00","expiresAt":null}`,
			wantBody: `{"ttl":2147483647}`,
			want:     UploadToken{Token: "to1", TTL: MaxTokenTTL, CreatedAt: created, ExpiresAt: created.Add(MaxTokenTTL)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, "/upload-tokens", r.URL.Path)
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				reply(w, http.StatusOK, tt.answer)
			})
			c, _ := newTestClient(t, f)
			got, err := c.CreateUploadToken(t.Context(), tt.ttl)
			require.NoError(t, err)
			assert.True(t, tt.want.CreatedAt.Equal(got.CreatedAt))
			assert.True(t, tt.want.ExpiresAt.Equal(got.ExpiresAt), "expiresAt %v", got.ExpiresAt)
			assert.Equal(t, tt.want.Token, got.Token)
			assert.Equal(t, tt.want.TTL, got.TTL)
			assert.Equal(t, tt.ttl == 0, got.NeverExpires())
			require.Equal(t, 1, f.count())
			assert.JSONEq(t, tt.wantBody, string(f.requests()[0].Body))
		})
	}
}

func TestCreateUploadTokenWithoutATokenInTheAnswer(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, `{"ttl":0}`) })
	c, _ := newTestClient(t, f)
	_, err := c.CreateUploadToken(t.Context(), 0)
	var opErr *OpError
	require.ErrorAs(t, err, &opErr)
	assert.Equal(t, opCreateToken, opErr.Op)
}

// TestTokenCallsNeedAnAPIKey checks that each token call fails with
// ErrNoAPIKey, without a request, on a client built without a key.
func TestTokenCallsNeedAnAPIKey(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, tokenJSON) })
	c, err := New(WithBaseURL(f.URL()), WithHTTPClient(f.srv.Client()))
	require.NoError(t, err)
	ctx := t.Context()
	calls := map[string]func() error{
		"create": func() error { _, err := c.CreateUploadToken(ctx, time.Hour); return err },
		"get":    func() error { _, err := c.GetUploadToken(ctx, testToken); return err },
		"delete": func() error { return c.DeleteUploadToken(ctx, testToken) },
		"list":   func() error { _, err := c.ListUploadTokens(ctx, ListOptions{}); return err },
		"all": func() error {
			for _, err := range c.AllUploadTokens(ctx, ListOptions{}) {
				return err
			}
			return nil
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			assert.ErrorIs(t, call(), ErrNoAPIKey)
		})
	}
	assert.Zero(t, f.count())
}

func TestGetAndDeleteRefuseAnEmptyToken(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, tokenJSON) })
	c, _ := newTestClient(t, f)
	_, err := c.GetUploadToken(t.Context(), "")
	assert.ErrorIs(t, err, ErrInvalidInput)
	assert.ErrorIs(t, c.DeleteUploadToken(t.Context(), ""), ErrInvalidInput)
	assert.Zero(t, f.count())
}

// TestUnknownTokensAreNotFound checks that the generated client's "a 404 is
// a response" does not leak: get and delete return an *APIError.
func TestUnknownTokensAreNotFound(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/upload-tokens/"+testToken, r.URL.Path)
		reply(w, http.StatusNotFound, notFoundJSON)
	})
	c, waits := newTestClient(t, f)

	tok, getErr := c.GetUploadToken(t.Context(), testToken)
	assert.Zero(t, tok)
	deleteErr := c.DeleteUploadToken(t.Context(), testToken)
	for op, err := range map[string]error{opGetToken: getErr, opDeleteToken: deleteErr} {
		require.ErrorIs(t, err, ErrNotFound, op)
		var apiErr *APIError
		require.ErrorAs(t, err, &apiErr)
		assert.Equal(t, op, apiErr.Op)
		assert.Equal(t, "uploadToken", apiErr.Name)
		assert.NotContains(t, err.Error(), testToken)
	}
	assert.Equal(t, 2, f.count(), "a 404 is not retried")
	assert.Empty(t, waits.all())
}

func TestGetAndDeleteUploadToken(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/upload-tokens/to1tcmSFHeYY5KzyhOqVKMKb", r.URL.Path)
		if r.Method == http.MethodDelete {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		reply(w, http.StatusOK, foreverTokenJSON)
	})
	c, _ := newTestClient(t, f)
	got, err := c.GetUploadToken(t.Context(), "to1tcmSFHeYY5KzyhOqVKMKb")
	require.NoError(t, err)
	assert.Equal(t, "to1tcmSFHeYY5KzyhOqVKMKb", got.Token)
	assert.True(t, got.NeverExpires())
	assert.Zero(t, got.TTL)
	assert.True(t, created.Equal(got.CreatedAt))
	require.NoError(t, c.DeleteUploadToken(t.Context(), "to1tcmSFHeYY5KzyhOqVKMKb"))
}

func TestListOptionsAreCheckedBeforeAnyRequest(t *testing.T) {
	tests := []struct {
		name string
		opts ListOptions
	}{
		{name: "unknown sort field", opts: ListOptions{SortBy: "token"}},
		{name: "sort field in the wrong case", opts: ListOptions{SortBy: "CreatedAt"}},
		{name: "unknown sort order", opts: ListOptions{SortOrder: "up"}},
		{name: "negative page", opts: ListOptions{Page: -1}},
		{name: "negative page size", opts: ListOptions{PageSize: -5}},
		{name: "page size above the maximum", opts: ListOptions{PageSize: MaxPageSize + 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, listJSON) })
			c, _ := newTestClient(t, f)
			_, err := c.ListUploadTokens(t.Context(), tt.opts)
			assert.ErrorIs(t, err, ErrInvalidInput)

			var yields int
			for tok, err := range c.AllUploadTokens(t.Context(), tt.opts) {
				yields++
				assert.Zero(t, tok)
				assert.ErrorIs(t, err, ErrInvalidInput)
			}
			assert.Equal(t, 1, yields, "the error is yielded once")
			assert.Zero(t, f.count())
		})
	}
}

func TestListUploadTokensSendsItsOptions(t *testing.T) {
	tests := []struct {
		opts      ListOptions
		wantQuery string
	}{
		{opts: ListOptions{}, wantQuery: ""},
		{opts: ListOptions{SortBy: SortByTTL}, wantQuery: "sortBy=ttl"},
		{opts: ListOptions{SortBy: SortByCreatedAt, SortOrder: SortDesc, Page: 3, PageSize: 100}, wantQuery: "sortBy=createdAt&sortOrder=desc&currentPage=3&pageSize=100"},
		{opts: ListOptions{SortOrder: SortAsc, PageSize: 1}, wantQuery: "sortOrder=asc&pageSize=1"},
	}
	for _, tt := range tests {
		t.Run(tt.wantQuery, func(t *testing.T) {
			f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, listJSON) })
			c, _ := newTestClient(t, f)
			_, err := c.ListUploadTokens(t.Context(), tt.opts)
			require.NoError(t, err)
			assert.Equal(t, tt.wantQuery, f.requests()[0].RawQuery)
		})
	}
}

func TestListUploadTokensDecodesThePage(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusOK, listJSON) })
	c, _ := newTestClient(t, f)
	page, err := c.ListUploadTokens(t.Context(), ListOptions{})
	require.NoError(t, err)

	first := time.Date(2020, 12, 2, 10, 26, 46, 0, time.UTC)
	require.Len(t, page.Tokens, 2)
	assert.Equal(t, "to37YfoPDRR2pcDKa6LsUE0M", page.Tokens[0].Token)
	assert.Equal(t, time.Hour, page.Tokens[0].TTL)
	assert.True(t, first.Add(time.Hour).Equal(page.Tokens[0].ExpiresAt))
	assert.False(t, page.Tokens[0].NeverExpires())
	assert.Equal(t, "to1W3ZS9PdUBZWzzTEZr1B79", page.Tokens[1].Token)
	assert.True(t, page.Tokens[1].NeverExpires())
	assert.Equal(t, Pagination{
		Page: 1, PageSize: 25, PagesTotal: 1, ItemsTotal: 2, PageItems: 2,
		Links: PageLinks{
			Self:  "/upload-tokens?currentPage=1&pageSize=25",
			First: "/upload-tokens?currentPage=1&pageSize=25",
			Last:  "/upload-tokens?currentPage=1&pageSize=25",
		},
	}, page.Pagination)
	assert.False(t, page.HasNext())
}

func TestTokenPageHasNext(t *testing.T) {
	tests := []struct {
		name string
		p    Pagination
		want bool
	}{
		{name: "empty list", p: Pagination{Page: 1, PagesTotal: 0}, want: false},
		{name: "only page", p: Pagination{Page: 1, PagesTotal: 1}, want: false},
		{name: "first of two", p: Pagination{Page: 1, PagesTotal: 2}, want: true},
		{name: "next link only", p: Pagination{Links: PageLinks{Next: "/upload-tokens?currentPage=2"}}, want: true},
		{name: "last of two", p: Pagination{Page: 2, PagesTotal: 2}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, (&TokenPage{Pagination: tt.p}).HasNext())
		})
	}
}

// pagedFake answers the list route from n made-up tokens, like the API:
// pages of pageSize (default 25) with a next link while pages remain.
// failPage, when not 0, answers that page with a 500.
func pagedFake(t *testing.T, n, failPage int) *fakeAPI {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page, size := 1, 25
		if v := q.Get("currentPage"); v != "" {
			page, _ = strconv.Atoi(v)
		}
		if v := q.Get("pageSize"); v != "" {
			size, _ = strconv.Atoi(v)
		}
		if page == failPage {
			reply(w, http.StatusInternalServerError, `{"title":"boom","status":500}`)
			return
		}
		pages := (n + size - 1) / size
		var data []string
		for i := (page - 1) * size; i < min(page*size, n); i++ {
			data = append(data, fmt.Sprintf(`{"token":"to%d","ttl":0,"createdAt":"2020-12-02T10:13:19+00:00"}`, i))
		}
		links := fmt.Sprintf(`{"rel":"self","uri":"/upload-tokens?currentPage=%d&pageSize=%d"}`, page, size)
		if page < pages {
			links += fmt.Sprintf(`,{"rel":"next","uri":"/upload-tokens?currentPage=%d&pageSize=%d"}`, page+1, size)
		}
		reply(w, http.StatusOK, fmt.Sprintf(`{"data":[%s],"pagination":{"currentPage":%d,"currentPageItems":%d,"pageSize":%d,"pagesTotal":%d,"itemsTotal":%d,"links":[%s]}}`,
			strings.Join(data, ","), page, len(data), size, pages, n, links))
	})
}

func TestAllUploadTokensYieldsAnErrorOnceThenStops(t *testing.T) {
	f := pagedFake(t, 60, 2)
	c, _ := newTestClient(t, f, WithoutRetries())

	var tokens, errs int
	var last error
	for tok, err := range c.AllUploadTokens(t.Context(), ListOptions{}) {
		if err != nil {
			errs++
			last = err
			assert.Zero(t, tok)
			continue // a well-behaved caller would stop; the iterator must stop anyway
		}
		tokens++
	}
	assert.Equal(t, 25, tokens, "the first page's tokens came before the failure")
	assert.Equal(t, 1, errs)
	assert.ErrorIs(t, last, ErrServer)
	assert.Equal(t, 2, f.count(), "no request after the failure")
}

func TestAllUploadTokensStopsWhenTheCallerBreaks(t *testing.T) {
	tests := []struct {
		name         string
		breakAfter   int
		wantRequests int
	}{
		{name: "first token", breakAfter: 1, wantRequests: 1},
		{name: "last of the first page", breakAfter: 25, wantRequests: 1},
		{name: "first of the second page", breakAfter: 26, wantRequests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := pagedFake(t, 100, 0)
			c, _ := newTestClient(t, f)
			var n int
			for _, err := range c.AllUploadTokens(t.Context(), ListOptions{}) {
				require.NoError(t, err)
				n++
				if n == tt.breakAfter {
					break
				}
			}
			assert.Equal(t, tt.breakAfter, n)
			assert.Equal(t, tt.wantRequests, f.count())
		})
	}
}

func TestAllUploadTokensRefusesALoopingNextLink(t *testing.T) {
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) {
		reply(w, http.StatusOK, `{"data":[{"token":"to1"}],"pagination":{"currentPage":1,"pagesTotal":5,"links":[{"rel":"next","uri":"/upload-tokens?currentPage=1"}]}}`)
	})
	c, _ := newTestClient(t, f)
	var errs []error
	for _, err := range c.AllUploadTokens(t.Context(), ListOptions{}) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	require.Len(t, errs, 1)
	var opErr *OpError
	assert.ErrorAs(t, errs[0], &opErr)
	assert.Equal(t, 1, f.count())
}

func TestAllUploadTokensFollowsTheNextLink(t *testing.T) {
	// The server skips from page 1 to page 3 (say, page 2 was emptied): the
	// iterator goes where the link says, not to page+1.
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("currentPage") {
		case "":
			reply(w, http.StatusOK, `{"data":[{"token":"to1"}],"pagination":{"currentPage":1,"pagesTotal":3,"links":[{"rel":"next","uri":"/upload-tokens?currentPage=3&pageSize=1"}]}}`)
		case "3":
			reply(w, http.StatusOK, `{"data":[{"token":"to3"}],"pagination":{"currentPage":3,"pagesTotal":3,"links":[]}}`)
		default:
			reply(w, http.StatusNotFound, notFoundJSON)
		}
	})
	c, _ := newTestClient(t, f)
	var got []string
	for tok, err := range c.AllUploadTokens(t.Context(), ListOptions{PageSize: 1}) {
		require.NoError(t, err)
		got = append(got, tok.Token)
	}
	assert.Equal(t, []string{"to1", "to3"}, got)
	assert.Equal(t, 2, f.count())
}

func TestAllUploadTokensStopsOnCancellation(t *testing.T) {
	f := pagedFake(t, 100, 0)
	c, _ := newTestClient(t, f)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var n int
	var last error
	for _, err := range c.AllUploadTokens(ctx, ListOptions{}) {
		if err != nil {
			last = err
			continue
		}
		n++
		if n == 25 {
			cancel()
		}
	}
	assert.Equal(t, 25, n)
	assert.ErrorIs(t, last, context.Canceled)
	assert.Equal(t, 1, f.count())
}

// newSandboxClient starts a sandbox, mints n tokens in it directly (one
// second apart, with TTLs in an order unrelated to creation) and returns a
// client for it, whose requests are counted.
func newSandboxClient(t *testing.T, n int) (*Client, *countingTransport) {
	t.Helper()
	var mu sync.Mutex
	now := time.Now().UTC().Truncate(time.Second).Add(-time.Duration(n) * time.Second)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock))
	for i := range n {
		ttl := time.Duration((i*7919)%1000+3600) * time.Second
		if i%10 == 0 {
			ttl = 0
		}
		_, err := srv.Sandbox.CreateToken(ttl)
		require.NoError(t, err)
		mu.Lock()
		now = now.Add(time.Second)
		mu.Unlock()
	}
	counter := &countingTransport{base: http.DefaultTransport}
	c, err := New(WithBaseURL(srv.URL), WithAPIKey(srv.APIKey), WithHTTPClient(&http.Client{Transport: counter}))
	require.NoError(t, err)
	return c, counter
}

// TestPaginationAgainstTheSandbox walks lists of several lengths in every
// sort: each token comes once, in order, and pages cost one request each.
func TestPaginationAgainstTheSandbox(t *testing.T) {
	sorts := []struct {
		by    SortBy
		order SortOrder
	}{
		{SortByCreatedAt, SortAsc}, {SortByCreatedAt, SortDesc}, {SortByTTL, SortAsc}, {SortByTTL, SortDesc},
	}
	for _, n := range []int{0, 1, 25, 26, 1000} {
		c, counter := newSandboxClient(t, n)
		for _, s := range sorts {
			for _, size := range []int{0, 100} {
				t.Run(fmt.Sprintf("%d tokens by %s %s page size %d", n, s.by, s.order, size), func(t *testing.T) {
					before := counter.count("/upload-tokens")
					var got []UploadToken
					seen := map[string]bool{}
					for tok, err := range c.AllUploadTokens(t.Context(), ListOptions{SortBy: s.by, SortOrder: s.order, PageSize: size}) {
						require.NoError(t, err)
						require.False(t, seen[tok.Token], "token %s came twice", tok.Token)
						seen[tok.Token] = true
						got = append(got, tok)
					}
					require.Len(t, got, n)
					for i := 1; i < len(got); i++ {
						c := compareTokens(s.by, got[i-1], got[i])
						if s.order == SortDesc {
							c = -c
						}
						require.LessOrEqual(t, c, 0, "tokens %d and %d out of order", i-1, i)
					}
					perPage := cmp.Or(size, 25)
					wantRequests := max(1, (n+perPage-1)/perPage)
					assert.Equal(t, wantRequests, counter.count("/upload-tokens")-before, "requests")
				})
			}
		}
	}
}

func compareTokens(by SortBy, a, b UploadToken) int {
	if by == SortByTTL {
		return cmp.Compare(a.TTL, b.TTL)
	}
	return a.CreatedAt.Compare(b.CreatedAt)
}

func TestSandboxEarlyBreakMakesNoFurtherRequest(t *testing.T) {
	c, counter := newSandboxClient(t, 26)
	var n int
	for _, err := range c.AllUploadTokens(t.Context(), ListOptions{}) {
		require.NoError(t, err)
		if n++; n == 25 {
			break
		}
	}
	assert.Equal(t, 1, counter.count("/upload-tokens"))
}

// TestTokenLifecycleAgainstTheSandbox creates, reads, lists and deletes a
// token through the real protocol.
func TestTokenLifecycleAgainstTheSandbox(t *testing.T) {
	srv := sandboxtest.NewServer(t)
	c, err := New(WithBaseURL(srv.URL), WithAPIKey(srv.APIKey))
	require.NoError(t, err)
	ctx := t.Context()

	tok, err := c.CreateUploadToken(ctx, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, time.Hour, tok.TTL)
	assert.Equal(t, time.Hour, tok.ExpiresAt.Sub(tok.CreatedAt))
	forever, err := c.CreateUploadToken(ctx, 0)
	require.NoError(t, err)
	assert.True(t, forever.NeverExpires())

	got, err := c.GetUploadToken(ctx, tok.Token)
	require.NoError(t, err)
	assert.Equal(t, tok.Token, got.Token)
	assert.True(t, tok.ExpiresAt.Equal(got.ExpiresAt))

	page, err := c.ListUploadTokens(ctx, ListOptions{PageSize: 1, SortBy: SortByTTL, SortOrder: SortDesc})
	require.NoError(t, err)
	require.Len(t, page.Tokens, 1)
	assert.Equal(t, tok.Token, page.Tokens[0].Token)
	assert.Equal(t, 2, page.Pagination.ItemsTotal)
	assert.True(t, page.HasNext())

	require.NoError(t, c.DeleteUploadToken(ctx, tok.Token))
	_, err = c.GetUploadToken(ctx, tok.Token)
	assert.ErrorIs(t, err, ErrNotFound)
	assert.NotContains(t, err.Error(), tok.Token)
	assert.ErrorIs(t, c.DeleteUploadToken(ctx, tok.Token), ErrNotFound)

	bad, err := New(WithBaseURL(srv.URL), WithAPIKey("not-the-key"))
	require.NoError(t, err)
	_, err = bad.ListUploadTokens(ctx, ListOptions{})
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), "not-the-key")
}

// TestRequestsToIterate1000Tokens records the figure the issue asks for:
// iterating 1,000 tokens at page size 100 takes 10 requests, one per page.
func TestRequestsToIterate1000Tokens(t *testing.T) {
	c, counter := newSandboxClient(t, 1000)
	var n int
	for _, err := range c.AllUploadTokens(t.Context(), ListOptions{PageSize: MaxPageSize}) {
		require.NoError(t, err)
		n++
	}
	require.Equal(t, 1000, n)
	requests := counter.count("/upload-tokens")
	t.Logf("iterating %d tokens at page size %d took %d requests", n, MaxPageSize, requests)
	assert.Equal(t, 10, requests)
}
