package gen_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/gen/spec"
)

func loadSpecFile(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile("../openapi.yaml")
	require.NoError(t, err)
	return doc
}

func TestSpecValidates(t *testing.T) {
	ctx := context.Background()

	fromFile := loadSpecFile(t)
	require.NoError(t, fromFile.Validate(ctx, openapi3.EnableExamplesValidation()))

	embedded, err := spec.GetSpec()
	require.NoError(t, err)
	require.NoError(t, embedded.Validate(ctx, openapi3.EnableExamplesValidation()))

	assert.Len(t, fromFile.Paths.Map(), 5, "three paths carry the five operations, two the authentication routes")
	assert.Equal(t, fromFile.Paths.Len(), embedded.Paths.Len(), "the embedded spec matches openapi.yaml")
}

func TestSpecOperations(t *testing.T) {
	doc := loadSpecFile(t)

	want := map[string]string{
		"POST /upload-tokens":                 "createUploadToken",
		"GET /upload-tokens":                  "listUploadTokens",
		"GET /upload-tokens/{uploadToken}":    "getUploadToken",
		"DELETE /upload-tokens/{uploadToken}": "deleteUploadToken",
		"POST /upload":                        "uploadWithUploadToken",
		"POST /auth/api-key":                  "authenticate",
		"POST /auth/refresh":                  "refreshToken",
	}
	got := map[string]string{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			got[method+" "+path] = op.OperationID
		}
	}
	assert.Equal(t, want, got)

	for key, op := range got {
		operation := findOperation(t, doc, key)
		switch op {
		case "uploadWithUploadToken":
			require.NotNil(t, operation.Security, "upload declares its security")
			assert.Empty(t, *operation.Security, "upload needs no API key")
			token := operation.Parameters.GetByInAndName("query", "token")
			require.NotNil(t, token)
			assert.True(t, token.Required)
			continue
		case "authenticate", "refreshToken":
			require.NotNil(t, operation.Security, key)
			assert.Empty(t, *operation.Security, "%s: the body holds the credential", key)
			continue
		}
		require.NotNil(t, operation.Security, key)
		require.Len(t, *operation.Security, 2, "%s: Basic or bearer", key)
		assert.Contains(t, (*operation.Security)[0], "apiKey", key)
		assert.Contains(t, (*operation.Security)[1], "bearerAuth", key)
	}

	schemes := doc.Components.SecuritySchemes
	assert.Equal(t, "basic", schemes["apiKey"].Value.Scheme)
	assert.Equal(t, "bearer", schemes["bearerAuth"].Value.Scheme)
}

func findOperation(t *testing.T, doc *openapi3.T, key string) *openapi3.Operation {
	t.Helper()
	var method, path string
	_, err := fmt.Sscanf(key, "%s %s", &method, &path)
	require.NoError(t, err)
	op := doc.Paths.Find(path).GetOperation(method)
	require.NotNil(t, op, key)
	return op
}

// Every response of every operation carries the three rate-limit headers.
func TestSpecRateLimitHeadersOnEveryResponse(t *testing.T) {
	doc := loadSpecFile(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code, resp := range op.Responses.Map() {
				for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Retry-After"} {
					assert.Contains(t, resp.Value.Headers, h, "%s %s %s", method, path, code)
				}
			}
		}
	}
}

func TestSpecBounds(t *testing.T) {
	doc := loadSpecFile(t)
	schemas := doc.Components.Schemas

	for _, name := range []string{"UploadToken", "TokenCreationPayload"} {
		ttl := schemas[name].Value.Properties["ttl"].Value
		require.NotNil(t, ttl.Min, name)
		require.NotNil(t, ttl.Max, name)
		assert.InDelta(t, 0, *ttl.Min, 0, name)
		assert.InDelta(t, 2147483647, *ttl.Max, 0, name)
	}

	list := doc.Paths.Find("/upload-tokens").Get
	pageSize := list.Parameters.GetByInAndName("query", "pageSize").Schema.Value
	assert.InDelta(t, 1, *pageSize.Min, 0)
	assert.InDelta(t, 100, *pageSize.Max, 0)
	assert.InDelta(t, 25, pageSize.Default, 0)
	currentPage := list.Parameters.GetByInAndName("query", "currentPage").Schema.Value
	assert.InDelta(t, 1, *currentPage.Min, 0)

	assert.True(t, schemas["UploadToken"].Value.Properties["expiresAt"].Value.Nullable)
	assert.Equal(t, []string{"videoId"}, schemas["Video"].Value.Required)
	assert.ElementsMatch(t, []string{"data", "pagination"}, schemas["TokenListResponse"].Value.Required)
	assert.Equal(t, []string{"links"}, schemas["Pagination"].Value.Required)
	assert.Equal(t, []string{"file"}, schemas["TokenUploadPayload"].Value.Required)
	assert.ElementsMatch(t, []string{"access_token", "token_type", "refresh_token", "expires_in"}, schemas["AccessToken"].Value.Required)
	assert.Equal(t, []string{"apiKey"}, schemas["AuthenticatePayload"].Value.Required)
	assert.Equal(t, []string{"refreshToken"}, schemas["RefreshTokenPayload"].Value.Required)
}

func TestSpecContentRangePattern(t *testing.T) {
	doc := loadSpecFile(t)
	param := doc.Paths.Find("/upload").Post.Parameters.GetByInAndName("header", "Content-Range")
	require.NotNil(t, param)
	schema := param.Schema.Value

	tests := []struct {
		value string
		ok    bool
	}{
		{"bytes 0-999/5000", true},
		{"bytes 0-52428799999/52428800000", true},
		{"part 1/3", true},
		{"part 1/*", true},
		{"part 3/3", true},
		{"bytes 0-999/*", false},
		{"bytes 0-999", false},
		{"part */3", false},
		{"parts 1/3", false},
		{"bytes=0-999/5000", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			err := schema.VisitJSON(tt.value)
			if tt.ok {
				assert.NoError(t, err)
			} else {
				assert.Error(t, err)
			}
		})
	}
}

// Every example in the description, wherever it stands, validates against the
// schema it illustrates; the test also proves there is at least one of each.
func TestSpecExamplesMatchSchemas(t *testing.T) {
	doc := loadSpecFile(t)
	seen := map[string]int{}

	check := func(where string, schema *openapi3.SchemaRef, value any) {
		t.Helper()
		require.NotNil(t, schema, where)
		assert.NoError(t, schema.Value.VisitJSON(value), where)
		seen[where]++
	}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			params := append(openapi3.Parameters{}, item.Parameters...)
			params = append(params, op.Parameters...)
			for _, p := range params {
				if p.Value.Example != nil {
					check(method+" "+path+" param "+p.Value.Name, p.Value.Schema, p.Value.Example)
				}
				for name, ex := range p.Value.Examples {
					check(method+" "+path+" param "+p.Value.Name+" "+name, p.Value.Schema, ex.Value.Value)
				}
			}
			if op.RequestBody != nil {
				for ct, media := range op.RequestBody.Value.Content {
					if media.Example != nil {
						check(method+" "+path+" body "+ct, media.Schema, media.Example)
					}
				}
			}
			for code, resp := range op.Responses.Map() {
				for ct, media := range resp.Value.Content {
					for name, ex := range media.Examples {
						check(method+" "+path+" "+code+" "+ct+" "+name, media.Schema, ex.Value.Value)
					}
				}
			}
		}
	}
	names := make([]string, 0, len(seen))
	for k := range seen {
		names = append(names, k)
	}
	sort.Strings(names)
	t.Logf("validated %d examples", len(names))
	assert.GreaterOrEqual(t, len(names), 15)
	for _, op := range []string{"POST /upload-tokens 200", "GET /upload-tokens 200", "GET /upload-tokens/{uploadToken} 200", "POST /upload 201", "POST /upload 400"} {
		found := false
		for _, n := range names {
			if len(n) >= len(op) && n[:len(op)] == op {
				found = true
			}
		}
		assert.True(t, found, "an example for %s", op)
	}

	// Examples on schema properties, too.
	for name, schema := range doc.Components.Schemas {
		for prop, ref := range schema.Value.Properties {
			if ref.Value.Example != nil {
				assert.NoError(t, ref.Value.VisitJSON(ref.Value.Example), "%s.%s", name, prop)
			}
		}
	}
}

// The payloads api-facts.md records travel through json.Marshal untouched.
func TestExamplesAreTheRecordedPayloads(t *testing.T) {
	doc := loadSpecFile(t)
	ex := doc.Components.Examples
	for name, want := range map[string]string{
		"UploadTokenWithTTL":    createTokenPayload,
		"UploadTokenWithoutTTL": ttlZeroPayload,
		"TokenList":             listPayload,
		"UploadedVideo":         uploadPayload,
	} {
		got, err := json.Marshal(ex[name].Value.Value)
		require.NoError(t, err)
		assert.JSONEq(t, want, string(got), name)
	}
}
