package gen_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/gen"
	"github.com/avupload/avupload/internal/recorded"
)

// Payloads api-facts.md records, by their old names here.
const (
	createTokenPayload = recorded.CreateToken
	ttlZeroPayload     = recorded.TokenWithoutTTL
	tooManyPayload     = recorded.TooManyRequests
	notFoundPayload    = recorded.NotFound
	listPayload        = recorded.TokenList
	uploadPayload      = recorded.Video
)

func atom(t *testing.T, s string) time.Time {
	t.Helper()
	ts, err := time.Parse("2006-01-02T15:04:05-07:00", s)
	require.NoError(t, err)
	return ts
}

// encode writes v as the API does: no HTML escaping, no trailing newline.
func encode(t *testing.T, v any) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	require.NoError(t, enc.Encode(v))
	return strings.TrimSuffix(buf.String(), "\n")
}

// decodeAndRoundTrip decodes payload into v, re-encodes it and checks that
// the result is the payload byte for byte: same fields, same order, same
// timestamps.
func decodeAndRoundTrip[T any](t *testing.T, payload string) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal([]byte(payload), &v))
	assert.Equal(t, payload, encode(t, v), "re-encoding changes nothing")
	return v
}

// TestRecordedAnswersRoundTrip sends every recorded answer through the
// model its operation answers with, and back.
func TestRecordedAnswersRoundTrip(t *testing.T) {
	for _, a := range recorded.Answers {
		t.Run(a.Name, func(t *testing.T) {
			var model any
			switch {
			case a.Status == 429:
				model = &gen.TooManyRequests{}
			case a.Status == 404:
				model = &gen.NotFound{}
			case a.Op == "createUploadToken", a.Op == "getUploadToken":
				model = &gen.UploadToken{}
			case a.Op == "listUploadTokens":
				model = &gen.TokenListResponse{}
			case a.Op == "uploadWithUploadToken":
				model = &gen.Video{}
			default:
				require.Failf(t, "no model", "for %s %d", a.Op, a.Status)
			}
			dec := json.NewDecoder(strings.NewReader(a.Body))
			dec.DisallowUnknownFields()
			require.NoError(t, dec.Decode(model), "every field has a place in the model")
			assert.Equal(t, a.Body, encode(t, model))
		})
	}
}

// With HTML escaping (json.Marshal, the generated server's writer), the
// iframe and the links come out escaped: why the sandbox writes these
// answers itself.
func TestMarshalEscapesHTML(t *testing.T) {
	var v gen.Video
	require.NoError(t, json.Unmarshal([]byte(uploadPayload), &v))
	b, err := json.Marshal(v)
	require.NoError(t, err)
	assert.Contains(t, string(b), `\u003ciframe`)
	assert.NotEqual(t, uploadPayload, string(b))
}

func TestDecodeCreatedToken(t *testing.T) {
	tok := decodeAndRoundTrip[gen.UploadToken](t, createTokenPayload)

	require.NotNil(t, tok.Token)
	assert.Equal(t, "to1tcmSFHeYY5KzyhOqVKMKb", *tok.Token)
	require.NotNil(t, tok.TTL)
	assert.Equal(t, 3600, *tok.TTL)
	require.NotNil(t, tok.CreatedAt)
	assert.True(t, atom(t, "2020-12-02T10:13:19+00:00").Equal(tok.CreatedAt.Time))
	_, offset := tok.CreatedAt.Zone()
	assert.Equal(t, 0, offset, "the numeric +00:00 offset is kept")

	require.True(t, tok.ExpiresAt.IsSpecified())
	require.False(t, tok.ExpiresAt.IsNull())
	expires := tok.ExpiresAt.MustGet()
	assert.True(t, atom(t, "2020-12-02T11:13:19+00:00").Equal(expires.Time))
	assert.Equal(t, time.Hour, expires.Sub(tok.CreatedAt.Time))
}

func TestDecodeTokenWithoutExpiry(t *testing.T) {
	t.Run("absent", func(t *testing.T) {
		tok := decodeAndRoundTrip[gen.UploadToken](t, ttlZeroPayload)
		assert.Equal(t, 0, *tok.TTL)
		assert.False(t, tok.ExpiresAt.IsSpecified(), "expiresAt absent stays absent")

		out, err := json.Marshal(tok)
		require.NoError(t, err)
		assert.NotContains(t, string(out), "expiresAt")
	})
	t.Run("null", func(t *testing.T) {
		payload := `{"token":"to1tcmSFHeYY5KzyhOqVKMKb","ttl":0,"createdAt":"2020-12-02T10:13:19+00:00","expiresAt":null}`
		tok := decodeAndRoundTrip[gen.UploadToken](t, payload)
		assert.True(t, tok.ExpiresAt.IsSpecified())
		assert.True(t, tok.ExpiresAt.IsNull(), "expiresAt null stays null")
	})
	t.Run("non-UTC offset", func(t *testing.T) {
		payload := `{"token":"to1","ttl":60,"createdAt":"2020-12-02T12:13:19+02:00"}`
		tok := decodeAndRoundTrip[gen.UploadToken](t, payload)
		_, offset := tok.CreatedAt.Zone()
		assert.Equal(t, 2*3600, offset)
		assert.True(t, atom(t, "2020-12-02T10:13:19+00:00").Equal(tok.CreatedAt.Time))
	})
}

func TestDecodeTokenList(t *testing.T) {
	list := decodeAndRoundTrip[gen.TokenListResponse](t, listPayload)

	require.Len(t, list.Data, 2)
	assert.Equal(t, "to37YfoPDRR2pcDKa6LsUE0M", *list.Data[0].Token)
	assert.Equal(t, 3600, *list.Data[0].TTL)
	assert.True(t, list.Data[0].ExpiresAt.IsSpecified())
	assert.Equal(t, "to1W3ZS9PdUBZWzzTEZr1B79", *list.Data[1].Token)
	assert.Equal(t, 0, *list.Data[1].TTL)
	assert.False(t, list.Data[1].ExpiresAt.IsSpecified())

	p := list.Pagination
	assert.Equal(t, 1, *p.CurrentPage)
	assert.Equal(t, 2, *p.CurrentPageItems)
	assert.Equal(t, 25, *p.PageSize)
	assert.Equal(t, 1, *p.PagesTotal)
	assert.Equal(t, 2, *p.ItemsTotal)
	require.Len(t, p.Links, 3)
	rels := []gen.PaginationLinkRel{gen.PaginationLinkRelSelf, gen.PaginationLinkRelFirst, gen.PaginationLinkRelLast}
	for i, rel := range rels {
		assert.Equal(t, rel, *p.Links[i].Rel)
		assert.Equal(t, "/upload-tokens?currentPage=1&pageSize=25", *p.Links[i].URI)
	}
}

func TestDecodeUploadedVideo(t *testing.T) {
	v := decodeAndRoundTrip[gen.Video](t, uploadPayload)

	assert.Equal(t, "vi4k0jvEUuaTdRAEjQ4Jfrgz", v.VideoID)
	assert.Equal(t, "pl45KFKdlddgk654dspkze", *v.PlayerID)
	assert.Equal(t, "Maths video", *v.Title)
	assert.Equal(t, "An amazing video explaining the string theory", *v.Description)
	assert.Equal(t, "en", *v.Language)
	assert.Equal(t, gen.VideoLanguageOriginAPI, v.LanguageOrigin.MustGet())
	assert.False(t, *v.Public)
	assert.False(t, *v.Panoramic)
	assert.False(t, *v.Discarded)
	assert.Nil(t, v.Mp4Support, "mp4Support is absent from the payload")
	assert.Equal(t, []string{"maths", "string theory", "video"}, *v.Tags)
	require.Len(t, *v.Metadata, 2)
	assert.Equal(t, "Author", *(*v.Metadata)[0].Key)
	assert.Equal(t, "John Doe", *(*v.Metadata)[0].Value)
	assert.Equal(t, "Format", *(*v.Metadata)[1].Key)
	assert.Equal(t, "Tutorial", *(*v.Metadata)[1].Value)
	assert.True(t, atom(t, "2024-07-14T23:36:07+00:00").Equal(v.PublishedAt.Time))
	assert.True(t, v.DiscardedAt.IsSpecified() && v.DiscardedAt.IsNull(), "discardedAt is null")
	assert.True(t, v.DeletesAt.IsSpecified() && v.DeletesAt.IsNull(), "deletesAt is null")
	require.NotNil(t, v.Source)
	assert.Equal(t, "/videos/vi4k0jvEUuaTdRAEjQ4Jfrgz/source", *v.Source.URI)
	require.NotNil(t, v.Assets)
	assert.Equal(t, `<iframe src="https://embed.api.video/vod/vi4blUQJFrYWbaG44NChkH27" width="100%" height="100%" frameborder="0" scrolling="no" allowfullscreen=""></iframe>`, *v.Assets.Iframe)
	assert.Equal(t, "https://embed.api.video/vod/vi4blUQJFrYWbaG44NChkH27", *v.Assets.Player)
	assert.Equal(t, "https://cdn.api.video/vod/vi4blUQJFrYWbaG44NChkH27/hls/manifest.m3u8", *v.Assets.Hls)
	assert.Equal(t, "https://cdn.api.video/vod/vi4blUQJFrYWbaG44NChkH27/thumbnail.jpg", *v.Assets.Thumbnail)
	assert.Equal(t, "https://cdn.api.video/vod/vi4blUQJFrYWbaG44NChkH27/mp4/source.mp4", *v.Assets.Mp4)
}

func TestDecodeProblems(t *testing.T) {
	tooMany := decodeAndRoundTrip[gen.TooManyRequests](t, tooManyPayload)
	assert.Equal(t, "https://docs.api.video/reference/too-many-requests", *tooMany.Type)
	assert.Equal(t, "Too many requests.", *tooMany.Title)
	assert.Equal(t, 429, *tooMany.Status)

	notFound := decodeAndRoundTrip[gen.NotFound](t, notFoundPayload)
	assert.Equal(t, "https://docs.api.video/reference/resource-not-found", *notFound.Type)
	assert.Equal(t, "The requested resource was not found.", *notFound.Title)
	assert.Equal(t, "videoId", *notFound.Name)
	assert.Equal(t, 404, *notFound.Status)

	bad := decodeAndRoundTrip[gen.BadRequest](t, `{"type":"https://docs.api.video/reference/invalid-attribute","title":"An attribute is invalid.","name":"ttl","status":400,"detail":"ttl must be at most 2147483647","problems":[{"type":"https://docs.api.video/reference/invalid-attribute","title":"An attribute is invalid.","name":"ttl","status":400}]}`)
	assert.Equal(t, "ttl", *bad.Name)
	require.Len(t, *bad.Problems, 1)
	assert.Equal(t, "ttl", *(*bad.Problems)[0].Name)
}

// The authentication answer, in the shape and order api-facts.md gives it.
func TestAccessTokenRoundTrip(t *testing.T) {
	at := decodeAndRoundTrip[gen.AccessToken](t, `{"access_token":"eyJ0eXAi.e30.c2ln","token_type":"Bearer","refresh_token":"def50200a0e5","expires_in":3600}`)
	assert.Equal(t, gen.AccessTokenTokenTypeBearer, at.TokenType)
	assert.Equal(t, 3600, at.ExpiresIn)
}
