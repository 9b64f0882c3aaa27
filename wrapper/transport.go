package wrapper

import (
	"net/http"
	"slices"
	"strings"

	"github.com/avupload/avupload/internal/route"
)

// transport is the RoundTripper every request of a Client goes through, the
// raw generated client's included. As net/http asks of a RoundTripper, it
// only prepares the request: it identifies the client and adds the API key
// where (and only where) it belongs. Retries, stalls and redirects are the
// caller's business (see caller).
type transport struct {
	*config // the Client's: its key and base path
	base    http.RoundTripper
	scheme  string // the API's scheme and host: the key is never sent
	host    string // anywhere else, nor over http when the API is https
	headers http.Header
}

// RoundTrip sends a copy of req with the client's headers and, to the API's
// own origin on the operations that need it (the token calls: never the
// upload), the API key. It never modifies req.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	out := req.Clone(req.Context())
	for k, v := range t.headers {
		out.Header[k] = slices.Clone(v)
	}
	op := operationOf(req.Method, strings.TrimPrefix(req.URL.Path, t.basePath))
	if t.apiKey != "" && req.URL.Scheme == t.scheme && req.URL.Host == t.host && needsKey(op) {
		out.SetBasicAuth(t.apiKey, "")
	}
	return t.base.RoundTrip(out)
}

// The operations, named by their operationIds (see route).
var (
	opCreateToken = route.CreateUploadToken
	opListTokens  = route.ListUploadTokens
	opGetToken    = route.GetUploadToken
	opDeleteToken = route.DeleteUploadToken
	opUpload      = route.UploadWithUploadToken
)

// needsKey reports whether op is one of the calls that need the API key.
func needsKey(op string) bool {
	switch op {
	case opCreateToken, opListTokens, opGetToken, opDeleteToken:
		return true
	}
	return false
}

// operationOf names the operation a method and API-relative path address,
// by the routes of the embedded OpenAPI description (a trailing slash
// aside); anything else is named by its method and path.
func operationOf(method, path string) string {
	if path != "/" {
		path = strings.TrimSuffix(path, "/")
	}
	if op, _ := route.Of(method, path); op != "" {
		return op
	}
	return method + " " + path
}
