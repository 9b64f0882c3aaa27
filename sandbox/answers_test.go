package sandbox

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/gen"
	"github.com/avupload/avupload/internal/recorded"
)

// decodeModel reads a recorded answer into the generated model T, refusing
// any field the model has no place for.
func decodeModel[T any](t *testing.T, body string) T {
	t.Helper()
	var v T
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&v))
	return v
}

// TestAnswersWriteTheRecordedBytes feeds every recorded answer, as a model,
// through the answer type the sandbox's handlers return for its operation
// and status, and checks that what goes on the wire is the recording byte
// for byte (and a newline, as every answer ends).
func TestAnswersWriteTheRecordedBytes(t *testing.T) {
	visit := func(a recorded.Answer) func(http.ResponseWriter) error {
		switch {
		case a.Status == http.StatusTooManyRequests:
			return func(w http.ResponseWriter) error {
				writeTooManyRequests(w)
				return nil
			}
		case a.Op == "getUploadToken" && a.Status == http.StatusNotFound:
			body := decodeModel[gen.NotFound](t, a.Body)
			return gen.GetUploadToken404JSONResponse{NotFoundJSONResponse: gen.NotFoundJSONResponse{Body: body}}.VisitGetUploadTokenResponse
		case a.Op == "getUploadToken":
			return gen.GetUploadToken200JSONResponse{Body: decodeModel[gen.UploadToken](t, a.Body)}.VisitGetUploadTokenResponse
		case a.Op == "createUploadToken":
			return gen.CreateUploadToken200JSONResponse{Body: decodeModel[gen.UploadToken](t, a.Body)}.VisitCreateUploadTokenResponse
		case a.Op == "listUploadTokens":
			return tokenPageAnswer{Body: decodeModel[gen.TokenListResponse](t, a.Body)}.VisitListUploadTokensResponse
		case a.Op == "uploadWithUploadToken":
			return videoAnswer{Body: decodeModel[gen.Video](t, a.Body)}.VisitUploadWithUploadTokenResponse
		}
		require.Failf(t, "no answer type", "for %s %d", a.Op, a.Status)
		return nil
	}
	for _, a := range recorded.Answers {
		t.Run(a.Name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			require.NoError(t, visit(a)(rec))
			assert.Equal(t, a.Status, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Equal(t, a.Body+"\n", rec.Body.String())
		})
	}
}

// The sandbox's own answers, built from its own values, are the recorded
// ones where the facts fix every byte.
func TestFixedAnswersAreTheRecordedOnes(t *testing.T) {
	rec := httptest.NewRecorder()
	writeTooManyRequests(rec)
	assert.Equal(t, recorded.TooManyRequests+"\n", rec.Body.String())

	// For a token, the 404 names the token parameter.
	rec = httptest.NewRecorder()
	require.NoError(t, gen.GetUploadToken404JSONResponse{NotFoundJSONResponse: tokenNotFound()}.VisitGetUploadTokenResponse(rec))
	assert.Equal(t, strings.Replace(recorded.NotFound, `"name":"videoId"`, `"name":"uploadToken"`, 1)+"\n", rec.Body.String())
}

// Content-Range problems quote the expected format with < and >, which the
// answer keeps as they are.
func TestUploadRefusalIsNotHTMLEscaped(t *testing.T) {
	_, e := parseContentRange("bytes 1-2")
	require.NotNil(t, e)
	require.Contains(t, e.p.Title, "<from_byte>")
	rec := httptest.NewRecorder()
	require.NoError(t, uploadError(e).VisitUploadWithUploadTokenResponse(rec))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, rec.Body.String(), "<from_byte>")
	assert.NotContains(t, rec.Body.String(), `\u003c`)
}
