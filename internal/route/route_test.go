package route

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOf(t *testing.T) {
	tests := []struct {
		method, path string
		op, allowed  string
	}{
		{http.MethodPost, "/upload", "uploadWithUploadToken", ""},
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

func TestOperations(t *testing.T) {
	assert.Equal(t, []string{"createUploadToken", "deleteUploadToken", "getUploadToken", "listUploadTokens", "uploadWithUploadToken"}, Operations())
}
