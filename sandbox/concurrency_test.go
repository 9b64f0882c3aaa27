package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/gen"
	"github.com/avupload/avupload/sandbox"
	"github.com/avupload/avupload/sandbox/sandboxtest"
)

// TestConcurrentChunkedUploads runs concurrentUploads chunked uploads at
// once (8, or 32 in TestLongConcurrentChunkedUploads), each sending its later
// chunks concurrently, and checks every video's SHA-256.
func TestConcurrentChunkedUploads(t *testing.T) {
	// Half the uploads start with a middle chunk, as the API allows: not
	// strict.
	srv := sandboxtest.NewServer(t, sandbox.WithDataDir(t.TempDir()), sandbox.WithStrict(false))
	tok := newToken(t, srv)
	const n = concurrentUploads
	want := make(map[string]string, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n*3)
	for i := range n {
		wg.Go(func() {
			data := randomBytes(2*5*mib+1000*i+1, uint64(100+i))
			total := len(data)
			type ch struct {
				cr   string
				data []byte
			}
			var chunks []ch
			if i%2 == 0 {
				chunks = []ch{
					{fmt.Sprintf("bytes %d-%d/%d", 5*mib, 10*mib-1, total), data[5*mib : 10*mib]},
					{fmt.Sprintf("bytes %d-%d/%d", 0, 5*mib-1, total), data[:5*mib]},
					{fmt.Sprintf("bytes %d-%d/%d", 10*mib, total-1, total), data[10*mib:]},
				}
			} else {
				chunks = []ch{
					{"part 2/*", data[5*mib : 10*mib]},
					{"part 1/*", data[:5*mib]},
					{"part 3/3", data[10*mib:]},
				}
			}
			send := func(c ch, videoID string) (string, error) {
				req := newUploadRequest(t, srv.URL, uploadReq{token: tok, videoID: videoID, data: c.data, contentRange: c.cr})
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return "", err
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if resp.StatusCode != 201 {
					return "", fmt.Errorf("%s: %d %s", c.cr, resp.StatusCode, body)
				}
				var v struct{ VideoID string }
				if err := jsonUnmarshal(body, &v); err != nil {
					return "", err
				}
				return v.VideoID, nil
			}
			id, err := send(chunks[0], "")
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			want[id] = sha(data)
			mu.Unlock()
			var inner sync.WaitGroup
			for _, c := range chunks[1:] {
				inner.Go(func() {
					if _, err := send(c, id); err != nil {
						errs <- err
					}
				})
			}
			inner.Wait()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	videos := srv.Sandbox.Videos()
	require.Len(t, videos, n)
	for _, v := range videos {
		assert.True(t, v.Complete, v.VideoID)
		assert.Equal(t, 3, v.Chunks)
		assert.Equal(t, want[v.VideoID], v.SHA256, v.VideoID)
	}
	assert.Equal(t, n*3, srv.Sandbox.Stats().CountStatus(sandbox.OpUploadWithUploadToken, 201))
}

// TestGeneratedClient drives the sandbox with the client generated from the
// same contract.
func TestGeneratedClient(t *testing.T) {
	clock := newFakeClock(time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC))
	srv := sandboxtest.NewServer(t, sandbox.WithClock(clock.Now))
	auth := func(_ context.Context, req *http.Request) error {
		req.SetBasicAuth(srv.APIKey, "")
		return nil
	}
	c, err := gen.NewClientWithResponses(srv.URL, gen.WithRequestEditorFn(auth))
	require.NoError(t, err)
	ctx := t.Context()

	ttl := 3600
	created, err := c.CreateUploadTokenWithResponse(ctx, gen.CreateUploadTokenJSONRequestBody{TTL: &ttl})
	require.NoError(t, err)
	require.Equal(t, 200, created.StatusCode(), "body: %s", created.Body)
	require.NotNil(t, created.JSON200)
	tok := *created.JSON200.Token
	assert.Equal(t, time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC), created.JSON200.CreatedAt.UTC())
	exp, err := created.JSON200.ExpiresAt.Get()
	require.NoError(t, err)
	assert.Equal(t, time.Date(2020, 12, 2, 11, 13, 19, 0, time.UTC), exp.UTC())
	require.NotNil(t, created.Headers200)
	require.NotNil(t, created.Headers200.XRateLimitLimit)

	got, err := c.GetUploadTokenWithResponse(ctx, tok)
	require.NoError(t, err)
	require.NotNil(t, got.JSON200)
	assert.Equal(t, tok, *got.JSON200.Token)

	pageSize := 1
	list, err := c.ListUploadTokensWithResponse(ctx, &gen.ListUploadTokensParams{PageSize: &pageSize})
	require.NoError(t, err)
	require.NotNil(t, list.JSON200)
	assert.Len(t, list.JSON200.Data, 1)
	assert.Equal(t, 1, *list.JSON200.Pagination.ItemsTotal)

	body, ct := multipartBody(t, part{field: "file", fileName: "clip.mp4", data: []byte("generated client")})
	up, err := c.UploadWithUploadTokenWithBodyWithResponse(ctx, &gen.UploadWithUploadTokenParams{Token: tok}, ct, body)
	require.NoError(t, err)
	require.NotNil(t, up.JSON201, "body: %s", up.Body)
	assert.Equal(t, "clip.mp4", *up.JSON201.Title)
	assert.Equal(t, time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC), up.JSON201.CreatedAt.UTC())
	assert.True(t, up.JSON201.DiscardedAt.IsNull())

	cr := "bytes 0-1/10"
	body, ct = multipartBody(t, part{field: "file", fileName: "clip.mp4", data: []byte("ab")})
	bad, err := c.UploadWithUploadTokenWithBodyWithResponse(ctx, &gen.UploadWithUploadTokenParams{Token: tok, ContentRange: &cr}, ct, body)
	require.NoError(t, err)
	require.NotNil(t, bad.JSON400, "body: %s", bad.Body)
	assert.Equal(t, "Content-Range", *bad.JSON400.Name)

	del, err := c.DeleteUploadTokenWithResponse(ctx, tok)
	require.NoError(t, err)
	assert.Equal(t, 204, del.StatusCode())
	del, err = c.DeleteUploadTokenWithResponse(ctx, tok)
	require.NoError(t, err)
	require.NotNil(t, del.JSON404)
	assert.Equal(t, "uploadToken", *del.JSON404.Name)

	noAuth, err := gen.NewClientWithResponses(srv.URL)
	require.NoError(t, err)
	unauth, err := noAuth.GetUploadTokenWithResponse(ctx, tok)
	require.NoError(t, err)
	require.NotNil(t, unauth.JSON401)
	assert.Equal(t, `The "Authorization" header is missing.`, *unauth.JSON401.Title)
}

func jsonUnmarshal(b []byte, v any) error {
	if len(b) == 0 {
		return errors.New("empty body")
	}
	return jsonDecode(bytes.NewReader(b), v)
}
