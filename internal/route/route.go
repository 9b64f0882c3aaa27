// Package route names the API operation a request addresses. Its table is
// read from the OpenAPI description the generated code embeds, so that the
// client (wrapper) and the local server (sandbox) route by the contract
// itself rather than by two hand-written copies of it.
package route

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/avupload/avupload/gen"
)

// table is the routing table: a ServeMux holding one pattern per
// operation, and the operationId of each pattern.
type table struct {
	mux     *http.ServeMux
	ops     map[string]string // "METHOD /path/{param}" -> operationId
	methods []string          // every method an operation uses, in allowOrder
}

// allowOrder is the order methods are listed in an Allow header.
var allowOrder = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

var load = sync.OnceValue(func() *table {
	t, err := parse()
	if err != nil {
		// The description is embedded at build time and checked by the
		// tests: failing to read it is a broken build, not a runtime event.
		panic("route: " + err.Error())
	}
	return t
})

// parse builds the table from the embedded description.
func parse() (*table, error) {
	raw, err := gen.GetSpecJSON()
	if err != nil {
		return nil, err
	}
	var spec struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("reading the embedded description: %w", err)
	}
	t := &table{mux: http.NewServeMux(), ops: map[string]string{}}
	for p, item := range spec.Paths {
		for m, raw := range item {
			method := strings.ToUpper(m)
			if !slices.Contains(allowOrder, method) {
				continue // "parameters", "summary" and the like
			}
			var op struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &op); err != nil || op.OperationID == "" {
				return nil, fmt.Errorf("%s %s has no operationId", method, p)
			}
			pattern := method + " " + p
			// The generator capitalises operationIds as it embeds the
			// description; openapi.yaml spells them in lower camel case.
			t.ops[pattern] = strings.ToLower(op.OperationID[:1]) + op.OperationID[1:]
			t.mux.Handle(pattern, http.NotFoundHandler())
			if !slices.Contains(t.methods, method) {
				t.methods = append(t.methods, method)
			}
		}
	}
	slices.SortFunc(t.methods, func(a, b string) int {
		return slices.Index(allowOrder, a) - slices.Index(allowOrder, b)
	})
	return t, nil
}

// Of returns the operationId of the operation that method and path (relative
// to the API's base URL, without a query) address. When the path is an
// operation's but the method is not, op is empty and allowed lists the
// methods the path takes, as an Allow header does ("GET, POST"). HEAD is
// routed as GET. A path that is not in canonical form addresses nothing.
func Of(method, p string) (op, allowed string) {
	if p == "" || path.Clean(p) != p {
		return "", ""
	}
	t := load()
	if pattern := t.match(method, p); pattern != "" {
		return t.ops[pattern], ""
	}
	var allow []string
	for _, m := range t.methods {
		if t.match(m, p) != "" {
			allow = append(allow, m)
		}
	}
	return "", strings.Join(allow, ", ")
}

// match returns the pattern method and p match, or "".
func (t *table) match(method, p string) string {
	req := &http.Request{Method: method, URL: &url.URL{Path: p}, Host: "api"}
	_, pattern := t.mux.Handler(req)
	if _, ok := t.ops[pattern]; !ok {
		return ""
	}
	return pattern
}

// Operations returns every operationId the description names, sorted.
func Operations() []string {
	var out []string
	for _, op := range load().ops {
		out = append(out, op)
	}
	slices.Sort(out)
	return out
}
