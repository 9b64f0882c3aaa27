package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/net/http/httpproxy"

	"github.com/avupload/avupload/wrapper"
)

// getenvKey is where run puts, in the commands' context, the environment
// they read, so that describe finds the proxy the client went through.
type getenvKey struct{}

// getenvOf returns the environment cmd runs in, or one that is empty.
func getenvOf(cmd *cobra.Command) func(string) string {
	if cmd != nil && cmd.Context() != nil {
		if getenv, ok := cmd.Context().Value(getenvKey{}).(func(string) string); ok {
			return getenv
		}
	}
	return func(string) string { return "" }
}

// serverFlagsOf returns the server flags of cmd, or nil if it has none.
func serverFlagsOf(cmd *cobra.Command) *serverFlags {
	if cmd == nil {
		return nil
	}
	if f := cmd.Flags().Lookup("base-url"); f != nil {
		if v, ok := f.Value.(baseURLFlag); ok {
			return v.s
		}
	}
	return nil
}

// useURL says how to point the command at rawURL instead: "use --base-url
// URL", or "set AVUPLOAD_BASE_URL=URL" when the URL came from there.
func useURL(cmd *cobra.Command, rawURL string) string {
	if s := serverFlagsOf(cmd); s != nil && s.baseURLFrom == "$"+envBaseURL && !cmd.Flags().Changed("base-url") {
		return "set " + envBaseURL + "=" + rawURL
	}
	return "use --base-url " + rawURL
}

// withScheme returns rawURL with the scheme scheme.
func withScheme(rawURL, scheme string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return rawURL
	}
	u.Scheme = scheme
	return u.String()
}

// proxyOf returns the proxy the client goes through to reach rawURL, with
// the variable that names it (HTTPS_PROXY, https_proxy, HTTP_PROXY...), or
// nil. It reads the environment as net/http does (NO_PROXY, loopback
// hosts), and shows no user or password.
func proxyOf(getenv func(string) string, rawURL string) (*url.URL, string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, ""
	}
	pick := func(names ...string) (string, string) {
		for _, n := range names {
			if v := getenv(n); v != "" {
				return v, n
			}
		}
		return "", ""
	}
	httpsProxy, httpsVar := pick("HTTPS_PROXY", "https_proxy")
	httpProxy, httpVar := pick("HTTP_PROXY", "http_proxy")
	noProxy, _ := pick("NO_PROXY", "no_proxy")
	cfg := httpproxy.Config{HTTPProxy: httpProxy, HTTPSProxy: httpsProxy, NoProxy: noProxy}
	proxy, err := cfg.ProxyFunc()(u)
	if err != nil || proxy == nil {
		return nil, ""
	}
	proxy.User = nil
	if u.Scheme == "https" {
		return proxy, httpsVar
	}
	return proxy, httpVar
}

// describeConnection renders a request that got no answer from the server
// at serverURL, err being the cause: what it means and what to do.
func describeConnection(err error, cmd *cobra.Command) string {
	server := serverURL(cmd)
	msg := "cannot reach the server at " + server + ": "
	proxy, proxyVar := proxyOf(getenvOf(cmd), server)
	var (
		netErr     *net.OpError
		unknownCA  x509.UnknownAuthorityError
		hostErr    x509.HostnameError
		unknownCAp *x509.UnknownAuthorityError
	)
	switch {
	case errors.As(err, new(*json.SyntaxError)) || errors.As(err, new(*json.UnmarshalTypeError)):
		// A success whose body is no JSON the API writes: a web page.
		hint := "; is --base-url right?"
		if s := serverFlagsOf(cmd); s != nil && s.baseURL != "" && s.baseURLFrom != "" {
			hint = "; is " + s.baseURLFrom + " right?"
		}
		return fmt.Sprintf("the server at %s does not speak the api.video API: it answered %s with something that is not the API's answer (not its JSON)%s",
			server, requestPath(cmd), hint)
	case proxy != nil && errors.As(err, &netErr) && netErr.Op == "proxyconnect":
		return fmt.Sprintf("cannot reach the proxy %s (from $%s) to get to %s: %s; check $%s, or unset it to connect directly",
			proxy.Redacted(), proxyVar, server, networkCause(netErr), proxyVar)
	case errors.Is(err, http.ErrSchemeMismatch):
		plain := withScheme(server, "http")
		return msg + "it speaks plain http, not https; " + useURL(cmd, plain)
	case errors.As(err, &unknownCA) || errors.As(err, &unknownCAp):
		if unknownCAp != nil {
			unknownCA = *unknownCAp
		}
		return msg + untrustedCertificate(cmd, unknownCA.Cert)
	case errors.As(err, &hostErr) && hostErr.Certificate != nil:
		names := strings.Join(hostErr.Certificate.DNSNames, ", ")
		for _, ip := range hostErr.Certificate.IPAddresses {
			names = strings.TrimPrefix(names+", "+ip.String(), ", ")
		}
		return msg + fmt.Sprintf("its certificate is for %s, not for %s; give the server by a name its certificate holds", names, hostErr.Host)
	case strings.HasPrefix(server, "http:") && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)):
		return msg + "it closed the connection without an answer; if it serves https, " + useURL(cmd, withScheme(server, "https"))
	case proxy != nil && !errors.As(err, &netErr) && !errors.As(err, new(*net.DNSError)) && !isTimeout(err):
		// net/http reports a proxy's refusal of CONNECT by its status
		// text alone: "Unsupported method ('CONNECT')", "Forbidden".
		return fmt.Sprintf("cannot reach the server at %s through the proxy %s (from $%s): the proxy answered %q; check $%s, or unset it to connect directly",
			server, proxy.Redacted(), proxyVar, networkCause(err), proxyVar)
	case proxy != nil:
		return msg + networkCause(err) + fmt.Sprintf(" (through the proxy %s, from $%s)", proxy.Redacted(), proxyVar)
	}
	return msg + networkCause(err)
}

// isTimeout reports whether err is a timeout.
func isTimeout(err error) bool {
	var timeout interface{ Timeout() bool }
	return errors.As(err, &timeout) && timeout.Timeout()
}

// untrustedCertificate says what to do about a server whose certificate
// (cert, or nil if unknown) no trusted authority signed: pass --cacert,
// and, when a running 'avupload sandbox --tls' wrote that very certificate,
// its file.
func untrustedCertificate(cmd *cobra.Command, cert *x509.Certificate) string {
	msg := "its certificate is not signed by an authority this machine trusts"
	if s := serverFlagsOf(cmd); s != nil && s.cacert != "" {
		msg += " nor by one in " + s.cacertFrom + " " + s.cacert
	}
	msg += "; pass --cacert FILE (or set " + envCACert + "=FILE) with the certificate to trust"
	if file := sandboxCertFile(cert); file != "" {
		return msg + "; 'avupload sandbox --tls' wrote this server's certificate to " + file + ": --cacert " + file
	}
	return msg + "; 'avupload sandbox --tls' prints the file it wrote its certificate to (its line export " + envCACert + "=...)"
}

// sandboxCertFile returns the file where a running 'avupload sandbox --tls'
// wrote cert (see sandboxWebFlags.options), or "".
func sandboxCertFile(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	files, _ := filepath.Glob(filepath.Join(os.TempDir(), sandboxTLSDirPattern, "cert.pem"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if block, _ := pem.Decode(data); block != nil && bytes.Equal(block.Bytes, cert.Raw) {
			return f
		}
	}
	return ""
}

// notAPIAnswer describes an answer with no problem document that says the
// server is not the API, or "" when it may be: a web server that serves no
// such path (404) or method (405, 501), an HTML page, or a TLS server
// spoken to in plain http. request is "POST /upload-tokens".
func notAPIAnswer(e *wrapper.APIError, cmd *cobra.Command) string {
	if e.Title != "" {
		return ""
	}
	server := serverURL(cmd)
	detail := strings.ToLower(e.Detail)
	status := fmt.Sprintf("%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	switch {
	case strings.Contains(detail, "http request to an https server"), strings.Contains(detail, "plain http request was sent to https port"):
		return fmt.Sprintf("the server at %s speaks https, not plain http (it answered %s: %s); %s",
			server, status, strings.TrimSuffix(strings.TrimSpace(e.Detail), "."), useURL(cmd, withScheme(server, "https")))
	case e.StatusCode == http.StatusNotFound, e.StatusCode == http.StatusMethodNotAllowed, e.StatusCode == http.StatusNotImplemented,
		strings.HasPrefix(detail, "<"):
		hint := "; is --base-url right?"
		if s := serverFlagsOf(cmd); s != nil && s.baseURL != "" && s.baseURLFrom != "" {
			hint = "; is " + s.baseURLFrom + " right?"
		}
		return fmt.Sprintf("the server at %s does not speak the api.video API: it answered %s to %s%s", server, status, requestPath(cmd), hint)
	}
	return ""
}

// requestPath is the request cmd sends, with its path alone: "POST
// /upload-tokens".
func requestPath(cmd *cobra.Command) string {
	base := strings.TrimSuffix(serverURL(cmd), "/")
	method, rest, ok := strings.Cut(requestOf(cmd), " ")
	if !ok {
		return "the request"
	}
	path := strings.TrimPrefix(rest, base)
	if u, err := url.Parse(base); err == nil {
		path = u.Path + path
	}
	return method + " " + path
}

// contextWithEnv returns ctx holding getenv, for getenvOf.
func contextWithEnv(ctx context.Context, getenv func(string) string) context.Context {
	return context.WithValue(ctx, getenvKey{}, getenv)
}

// uploadTokenShape matches what an upload token looks like: "to" and 22
// letters and digits.
var uploadTokenShape = regexp.MustCompile(`^to[0-9A-Za-z]{22}$`)

// keyIsAToken says, for the API's refusal of the API key of a token
// command, that the key given looks like an upload token, and where it was
// given; "" otherwise.
func keyIsAToken(e *wrapper.APIError, cmd *cobra.Command) string {
	if e.StatusCode != http.StatusUnauthorized || cmd == nil || cmd.Parent() == nil || cmd.Parent().Name() != "token" {
		return ""
	}
	key, from := getenvOf(cmd)(envAPIKey), "$"+envAPIKey
	if f := cmd.Flags().Lookup("api-key"); f != nil && f.Changed {
		key, from = f.Value.String(), "--api-key"
	}
	if !uploadTokenShape.MatchString(strings.TrimSpace(key)) {
		return ""
	}
	return "; " + from + " holds an upload token, not the API key (find the key in the api.video dashboard, or in the sandbox's output)"
}
