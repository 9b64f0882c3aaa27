package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// corsAllowedHeaders are the request headers a page of another origin may
// send: every one the official clients set, the browser uploader's included.
var corsAllowedHeaders = []string{
	"Authorization", "Content-Type", "Content-Range",
	"AV-Origin-Client", "AV-Origin-App", "AV-Origin-Sdk",
}

// corsExposedHeaders are the response headers a page of another origin may
// read beyond the CORS-safelisted ones.
var corsExposedHeaders = []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Retry-After"}

// corsMaxAge is how long, in seconds, a browser may cache a preflight answer.
const corsMaxAge = "600"

// corsPolicy says which origins may call the API from a browser. The zero
// value allows any origin.
type corsPolicy struct {
	origins []string // nil: any origin
}

// WithCORSOrigins sets the origins, such as "https://app.example:8443", whose
// pages may call the API from a browser. "*" (the default) allows any origin.
// Requests from other origins are still served; their answers lack the CORS
// headers, so the browser withholds them from the page.
func WithCORSOrigins(origins ...string) Option {
	return func(c *config) error {
		if len(origins) == 0 {
			return errors.New("sandbox: WithCORSOrigins needs at least one origin or \"*\"")
		}
		var list []string
		for _, o := range origins {
			if o == "*" {
				c.cors = corsPolicy{}
				return nil
			}
			if err := checkOrigin(o); err != nil {
				return err
			}
			list = append(list, strings.TrimRight(o, "/"))
		}
		c.cors = corsPolicy{origins: list}
		return nil
	}
}

// checkOrigin reports whether o is an origin: scheme, host and optional
// port, nothing more.
func checkOrigin(o string) error {
	u, err := url.Parse(strings.TrimRight(o, "/"))
	if err != nil || u.Scheme == "" || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("sandbox: CORS origin %q is not an origin such as https://app.example:8443 (or *)", o)
	}
	return nil
}

// allowOrigin returns the Access-Control-Allow-Origin value for a request
// from origin, or "" when that origin is not allowed.
func (p corsPolicy) allowOrigin(origin string) string {
	if p.origins == nil {
		return "*"
	}
	if slices.Contains(p.origins, origin) {
		return origin
	}
	return ""
}

// serveCORS sets the CORS headers of a request from a browser and answers
// preflight requests. It reports whether the request is finished.
func (s *Sandbox) serveCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	if s.cfg.cors.origins != nil {
		h.Add("Vary", "Origin")
	}
	allow := s.cfg.cors.allowOrigin(origin)
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if !preflight {
		if allow != "" {
			h.Set("Access-Control-Allow-Origin", allow)
			h.Set("Access-Control-Expose-Headers", strings.Join(corsExposedHeaders, ", "))
		}
		return false
	}
	drainBody(r)
	methods := corsMethods(r.URL.Path)
	if allow == "" || methods == "" {
		// A refused preflight: no CORS headers, so the browser stops there.
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	h.Set("Access-Control-Allow-Origin", allow)
	h.Set("Access-Control-Allow-Methods", methods)
	h.Set("Access-Control-Allow-Headers", strings.Join(corsAllowedHeaders, ", "))
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return true
}

// corsMethods lists the methods a route allows, for a preflight answer; it
// is empty for a path that is no route.
func corsMethods(path string) string {
	if strings.HasPrefix(path, "/_sandbox/") {
		return "GET"
	}
	// No route takes OPTIONS, so routeOf lists the methods the path takes.
	_, allowed := routeOf(http.MethodOptions, path)
	return allowed
}
