package route

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOf(t *testing.T) {
	tests := []struct {
		method, path string
		op, allowed  string
	}{
		{http.MethodPost, "/upload", "uploadWithUploadToken", ""},
		{http.MethodPost, "/auth/api-key", "authenticate", ""},
		{http.MethodPost, "/auth/refresh", "refreshToken", ""},
		{http.MethodGet, "/auth/refresh", "", "POST"},
		{http.MethodPost, "/upload-tokens", "createUploadToken", ""},
		{http.MethodGet, "/upload-tokens", "listUploadTokens", ""},
		{http.MethodHead, "/upload-tokens", "listUploadTokens", ""},
		{http.MethodGet, "/upload-tokens/to1", "getUploadToken", ""},
		{http.MethodHead, "/upload-tokens/to1", "getUploadToken", ""},
		{http.MethodDelete, "/upload-tokens/to1", "deleteUploadToken", ""},
		{http.MethodGet, "/upload", "", "POST"},
		{http.MethodPut, "/upload-tokens", "", "GET, POST"},
		{http.MethodPost, "/upload-tokens/to1", "", "GET, DELETE"},
		{http.MethodGet, "/upload-tokens/", "", ""},
		{http.MethodGet, "/upload-tokens/to1/x", "", ""},
		{http.MethodPost, "/upload/", "", ""},
		{http.MethodPost, "/x/../upload", "", ""},
		{http.MethodGet, "/videos", "", ""},
		{http.MethodGet, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			op, allowed := Of(tt.method, tt.path)
			assert.Equal(t, tt.op, op)
			assert.Equal(t, tt.allowed, allowed)
		})
	}
}

// TestRoutesMatchTheDescription checks every route of openapi.yaml against
// the table: each method and path (with a value for its
// parameter) is named by its operationId.
func TestRoutesMatchTheDescription(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromFile("../../openapi.yaml")
	require.NoError(t, err)
	var want []string
	for p, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			want = append(want, op.OperationID)
			got, allowed := Of(method, strings.ReplaceAll(p, "{uploadToken}", "to1"))
			assert.Equal(t, op.OperationID, got, "%s %s", method, p)
			assert.Empty(t, allowed)
		}
	}
	slices.Sort(want)
	assert.Equal(t, want, operations())
}

// TestNames checks the derived names against the operationIds of
// openapi.yaml, written here by hand on purpose.
func TestNames(t *testing.T) {
	assert.Equal(t,
		[]string{"createUploadToken", "listUploadTokens", "getUploadToken", "deleteUploadToken", "uploadWithUploadToken"},
		[]string{CreateUploadToken, ListUploadTokens, GetUploadToken, DeleteUploadToken, UploadWithUploadToken})
	assert.Empty(t, operationID(nil))
	assert.Empty(t, operationID("x"))
}
