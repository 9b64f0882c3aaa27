package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
// value allows the loopback origins: pages served from this machine.
type corsPolicy struct {
	any     bool     // "*": any origin
	origins []string // the origins named; nil for the loopback default
}

// WithCORSOrigins sets the origins, such as "https://app.example:8443", whose
// pages may call the API from a browser, in place of the default: the
// loopback origins, http or https on any port of localhost, 127.0.0.1 or
// [::1]. "*" allows any origin: any web page the developer opens could then
// mint, list and delete upload tokens with the sandbox's API key (the
// default key is public), so use it only with a key of your own.
// Requests from other origins are still served; their answers lack the CORS
// headers, so the browser withholds them from the page.
//
// The inspection routes (/_sandbox/...) answer browsers of the origins
// named here only, never those of "*" or of the loopback default.
func WithCORSOrigins(origins ...string) Option {
	return func(c *config) error {
		if len(origins) == 0 {
			return errors.New("sandbox: WithCORSOrigins needs at least one origin or \"*\"")
		}
		var list []string
		for _, o := range origins {
			if o == "*" {
				c.cors = corsPolicy{any: true}
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
// from origin to path, or "" when that origin is not allowed there.
func (p corsPolicy) allowOrigin(origin, path string) string {
	switch {
	case p.origins != nil:
		if slices.Contains(p.origins, origin) {
			return origin
		}
	case strings.HasPrefix(path, "/_sandbox/"):
		// Only origins named one by one may read the inspection routes.
	case p.any:
		return "*"
	case isLoopbackOrigin(origin):
		return origin
	}
	return ""
}

// isLoopbackOrigin reports whether origin is http or https on localhost,
// 127.0.0.1 or [::1], on any port.
func isLoopbackOrigin(origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if port := u.Port(); port != "" {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return false
		}
	}
	switch u.Host {
	case "localhost", "127.0.0.1", "[::1]":
		return true
	}
	switch u.Hostname() {
	case "localhost", "127.0.0.1":
		return u.Host != u.Hostname() // host:port
	case "::1":
		return strings.HasPrefix(u.Host, "[::1]:")
	}
	return false
}

// serveCORS sets the CORS headers of a request from a browser and answers
// preflight requests. It reports whether the request is finished.
func (s *Sandbox) serveCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	h := w.Header()
	if !s.cfg.cors.any || strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		h.Add("Vary", "Origin")
	}
	allow := s.cfg.cors.allowOrigin(origin, r.URL.Path)
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
