package wrapper

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/recorded"
)

// The recorded list's two entries, as they stand in its data.
const (
	listEntry0 = `{"token":"to37YfoPDRR2pcDKa6LsUE0M","ttl":3600,"createdAt":"2020-12-02T10:26:46+00:00","expiresAt":"2020-12-02T11:26:46+00:00"}`
	listEntry1 = `{"token":"to1W3ZS9PdUBZWzzTEZr1B79","ttl":0,"createdAt":"2020-12-02T10:26:28+00:00"}`
)

// recordedAPI answers every operation with its recorded answer.
func recordedAPI(t *testing.T) *fakeAPI {
	return newFake(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/upload-tokens":
			reply(w, http.StatusOK, recorded.CreateToken)
		case r.Method == http.MethodGet && r.URL.Path == "/upload-tokens":
			reply(w, http.StatusOK, recorded.TokenList)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/upload-tokens/"):
			reply(w, http.StatusOK, recorded.TokenWithoutTTL)
		case r.Method == http.MethodPost && r.URL.Path == "/upload":
			reply(w, http.StatusCreated, recorded.Video)
		default:
			http.NotFound(w, r)
		}
	})
}

// Every result keeps the answer it was read from, byte for byte.
func TestResultsKeepTheRawAnswer(t *testing.T) {
	require.Contains(t, recorded.TokenList, listEntry0)
	require.Contains(t, recorded.TokenList, listEntry1)
	c, _ := newTestClient(t, recordedAPI(t))
	ctx := t.Context()

	created, err := c.CreateUploadToken(ctx, time.Hour)
	require.NoError(t, err)
	assert.Equal(t, recorded.CreateToken, string(created.RawJSON()))

	got, err := c.GetUploadToken(ctx, "to1tcmSFHeYY5KzyhOqVKMKb")
	require.NoError(t, err)
	assert.Equal(t, recorded.TokenWithoutTTL, string(got.RawJSON()))

	page, err := c.ListUploadTokens(ctx, ListOptions{})
	require.NoError(t, err)
	assert.Equal(t, recorded.TokenList, string(page.RawJSON()))
	require.Len(t, page.Tokens, 2)
	assert.Equal(t, listEntry0, string(page.Tokens[0].RawJSON()))
	assert.Equal(t, listEntry1, string(page.Tokens[1].RawJSON()))

	var all []string
	for tok, err := range c.AllUploadTokens(ctx, ListOptions{}) {
		require.NoError(t, err)
		all = append(all, string(tok.RawJSON()))
	}
	assert.Equal(t, []string{listEntry0, listEntry1}, all)

	res, err := c.Upload(ctx, testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
	require.NoError(t, err)
	assert.Equal(t, recorded.Video, string(res.Video.RawJSON()))
}

// The fields the typed Video once dropped are read, and RawJSON hands out a
// copy that the caller may change.
func TestVideoFromTheRecordedAnswer(t *testing.T) {
	c, _ := newTestClient(t, recordedAPI(t))
	res, err := c.Upload(t.Context(), testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
	require.NoError(t, err)
	v := res.Video
	assert.Equal(t, "api", v.LanguageOrigin)
	assert.Equal(t, "An amazing video explaining the string theory", v.Description)
	assert.True(t, v.DiscardedAt.IsZero(), "discardedAt is null")
	assert.True(t, v.DeletesAt.IsZero(), "deletesAt is null")
	assert.Equal(t, time.Date(2024, 7, 14, 23, 36, 7, 0, time.UTC), v.PublishedAt.UTC())

	raw := v.RawJSON()
	raw[0] = 'X'
	assert.Equal(t, recorded.Video, string(v.RawJSON()), "changing a RawJSON result changes nothing else")
}

// A video with dates where the recorded one has nulls.
func TestVideoReadsDiscardDates(t *testing.T) {
	answer := strings.Replace(strings.Replace(recorded.Video,
		`"discardedAt":null`, `"discardedAt":"2024-07-15T08:00:00+02:00"`, 1),
		`"deletesAt":null`, `"deletesAt":"2024-08-14T06:00:00+00:00"`, 1)
	require.NotEqual(t, recorded.Video, answer)
	f := newFake(t, func(w http.ResponseWriter, _ *http.Request) { reply(w, http.StatusCreated, answer) })
	c, _ := newTestClient(t, f)
	res, err := c.Upload(t.Context(), testToken, ReaderAt(strings.NewReader("tiny video"), 10), nil)
	require.NoError(t, err)
	assert.True(t, time.Date(2024, 7, 15, 6, 0, 0, 0, time.UTC).Equal(res.Video.DiscardedAt))
	assert.True(t, time.Date(2024, 8, 14, 6, 0, 0, 0, time.UTC).Equal(res.Video.DeletesAt))
	assert.Equal(t, answer, string(res.Video.RawJSON()))
}
