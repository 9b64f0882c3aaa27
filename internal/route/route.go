// Package route names the API operation a request addresses. Its table is
// read from the routes the generated server (gen, from openapi.yaml)
// registers, so that the client (wrapper) and the local server (sandbox)
// route by the contract itself rather than by two hand-written copies of it.
package route

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"reflect"
	"runtime"
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
		// The routes are generated at build time and checked by the
		// tests: failing to read them is a broken build, not a runtime event.
		panic("route: " + err.Error())
	}
	return t
})

// parse builds the table from the routes the generated server registers:
// each pattern, and the name of the generated handler method it is
// registered with, which is its operationId.
func parse() (*table, error) {
	rec := &recorder{t: &table{mux: http.NewServeMux(), ops: map[string]string{}}}
	// No handler is ever called: a nil ServerInterface does.
	gen.HandlerWithOptions(nil, gen.StdHTTPServerOptions{BaseRouter: rec})
	if rec.err != nil {
		return nil, rec.err
	}
	t := rec.t
	if len(t.ops) == 0 {
		return nil, errors.New("the generated server registers no route")
	}
	slices.SortFunc(t.methods, func(a, b string) int {
		return slices.Index(allowOrder, a) - slices.Index(allowOrder, b)
	})
	return t, nil
}

// recorder is the router handed to the generated server: it records the
// routes instead of serving them.
type recorder struct {
	t   *table
	err error
}

func (r *recorder) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	method, _, ok := strings.Cut(pattern, " ")
	// The handler is a method value, such as
	// gen.ServerInterfaceWrapper.ListUploadTokens-fm: its name is the
	// operationId, capitalised by the generator.
	name := operationID(h)
	if !ok || name == "" || !slices.Contains(allowOrder, method) {
		r.err = fmt.Errorf("unexpected route %q (%s)", pattern, name)
		return
	}
	r.t.ops[pattern] = name
	r.t.mux.Handle(pattern, http.NotFoundHandler())
	if !slices.Contains(r.t.methods, method) {
		r.t.methods = append(r.t.methods, method)
	}
}

// operationID returns the operationId a generated method is named after:
// its name, without its receiver and with a lower-case first letter, or ""
// when f is not a function. f is a method value, such as
// gen.ServerInterfaceWrapper.ListUploadTokens-fm, or a method expression,
// such as gen.ServerInterface.ListUploadTokens.
func operationID(f any) string {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Func || v.IsNil() {
		return ""
	}
	name := runtime.FuncForPC(v.Pointer()).Name()
	name = strings.TrimSuffix(name, "-fm")
	name = name[strings.LastIndex(name, ".")+1:]
	if name == "" {
		return ""
	}
	return strings.ToLower(name[:1]) + name[1:]
}

func (r *recorder) ServeHTTP(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) }

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

// operations returns every operationId the description names, sorted.
func operations() []string {
	var out []string
	for _, op := range load().ops {
		out = append(out, op)
	}
	slices.Sort(out)
	return out
}

// The operations this project calls and serves, named by their operationIds
// as the generated server's methods give them: a name here is derived, not
// written, and a method the description loses no longer compiles.
var (
	CreateUploadToken     = mustName(gen.ServerInterface.CreateUploadToken)
	ListUploadTokens      = mustName(gen.ServerInterface.ListUploadTokens)
	GetUploadToken        = mustName(gen.ServerInterface.GetUploadToken)
	DeleteUploadToken     = mustName(gen.ServerInterface.DeleteUploadToken)
	UploadWithUploadToken = mustName(gen.ServerInterface.UploadWithUploadToken)
)

// mustName returns the operationId of m, a method expression of
// gen.ServerInterface, and panics when the routes name no such operation.
func mustName(m any) string {
	op := operationID(m)
	if !slices.Contains(operations(), op) {
		panic(fmt.Sprintf("route: %q is not an operation of the description", op))
	}
	return op
}
