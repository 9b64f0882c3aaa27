package sandbox_test

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/sandbox"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

func TestSelfSignedCertificateNames(t *testing.T) {
	certPEM, keyPEM, err := sandbox.SelfSignedCertificate("192.0.2.7", "", "0.0.0.0", "::", "dev.test", "localhost", "127.0.0.1")
	require.NoError(t, err)
	_, err = tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err, "the key matches the certificate")
	assert.Contains(t, string(keyPEM), "PRIVATE KEY")

	cert := parseCert(t, certPEM)
	assert.ElementsMatch(t, []string{"localhost", "dev.test"}, cert.DNSNames)
	var ips []string
	for _, ip := range cert.IPAddresses {
		ips = append(ips, ip.String())
	}
	assert.ElementsMatch(t, []string{"127.0.0.1", "::1", "192.0.2.7"}, ips, "loopbacks and the given address; no unspecified address")
	assert.Contains(t, cert.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	assert.WithinDuration(t, time.Now().Add(30*24*time.Hour), cert.NotAfter, time.Minute)
	assert.True(t, cert.NotBefore.Before(time.Now()))

	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, name := range []string{"localhost", "127.0.0.1", "::1", "dev.test", "192.0.2.7"} {
		_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name})
		assert.NoError(t, err, "a client that trusts the certificate accepts it for %s", name)
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.test"})
	assert.Error(t, err)

	again, _, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	assert.NotEqual(t, cert.SerialNumber, parseCert(t, again).SerialNumber, "a new key and serial each time")
}

func TestSPKIPin(t *testing.T) {
	certPEM, _, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	pin, err := sandbox.SPKIPin(certPEM)
	require.NoError(t, err)
	sum := sha256.Sum256(parseCert(t, certPEM).RawSubjectPublicKeyInfo)
	assert.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), pin)

	for _, bad := range []string{"", "not pem", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"} {
		_, err := sandbox.SPKIPin([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestStartWithTLS(t *testing.T) {
	certPEM, keyPEM, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)

	srv, err := sandbox.Start("127.0.0.1:0", sandbox.WithTLS(cert))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	require.True(t, strings.HasPrefix(srv.URL, "https://127.0.0.1:"), srv.URL)

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(certPEM))
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	req, err := http.NewRequest(http.MethodGet, srv.URL+"/upload-tokens", nil)
	require.NoError(t, err)
	req.SetBasicAuth(srv.APIKey, "")
	resp, err := client.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "HTTP/1.1", resp.Proto, "HTTP/1.1, so that faults that cut the connection work")
	require.NotNil(t, resp.TLS)

	// Asset links point at the https URL.
	token, err := srv.Sandbox.CreateToken(0)
	require.NoError(t, err)
	body, ct := multipartBody(t, part{field: "file", fileName: "v.mp4", data: []byte("video")})
	up, err := http.NewRequest(http.MethodPost, srv.URL+"/upload?token="+token, body)
	require.NoError(t, err)
	up.Header.Set("Content-Type", ct)
	resp, err = client.Do(up)
	require.NoError(t, err)
	var v struct {
		Assets struct{ Player string } `json:"assets"`
	}
	require.NoError(t, jsonDecode(resp.Body, &v))
	require.NoError(t, resp.Body.Close())
	assert.True(t, strings.HasPrefix(v.Assets.Player, srv.URL+"/"), v.Assets.Player)

	// A client that does not trust the certificate is refused.
	plain := &http.Transport{}
	t.Cleanup(plain.CloseIdleConnections)
	_, err = (&http.Client{Transport: plain}).Get(srv.URL + "/upload-tokens")
	var unknown x509.UnknownAuthorityError
	assert.ErrorAs(t, err, &unknown)

	// Plain http on the https port gets no API answer.
	conn, err := net.Dial("tcp", srv.Addr().String())
	require.NoError(t, err)
	_, _ = conn.Write([]byte("GET /upload-tokens HTTP/1.1\r\nHost: x\r\n\r\n"))
	buf := make([]byte, 512)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _ := conn.Read(buf)
	_ = conn.Close()
	assert.NotContains(t, string(buf[:n]), "X-Ratelimit", "no API answer over plain http")
}

func TestWithTLSRejectsAnEmptyCertificate(t *testing.T) {
	_, err := sandbox.New(sandbox.WithTLS(tls.Certificate{}))
	assert.Error(t, err)
}

// TestStartWithHTTP2 checks that WithHTTP2 offers h2 over TLS, that the
// answers and faults work over it, and that HTTP/1.1 clients are still served.
func TestStartWithHTTP2(t *testing.T) {
	certPEM, keyPEM, err := sandbox.SelfSignedCertificate()
	require.NoError(t, err)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	require.NoError(t, err)
	srv, err := sandbox.Start("127.0.0.1:0", sandbox.WithTLS(cert), sandbox.WithHTTP2())
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })

	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(certPEM))
	client := func(protos func(*http.Protocols)) *http.Client {
		p := new(http.Protocols)
		protos(p)
		tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, Protocols: p}
		t.Cleanup(tr.CloseIdleConnections)
		return &http.Client{Transport: tr}
	}
	get := func(c *http.Client) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodGet, srv.URL+"/upload-tokens", nil)
		require.NoError(t, err)
		req.SetBasicAuth(srv.APIKey, "")
		resp, err := c.Do(req)
		if err == nil {
			require.NoError(t, resp.Body.Close())
		}
		return resp, err
	}

	h2 := client(func(p *http.Protocols) { p.SetHTTP2(true) })
	resp, err := get(h2)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, 2, resp.ProtoMajor, "h2 offered and taken")
	require.NotNil(t, resp.TLS)
	assert.Equal(t, "h2", resp.TLS.NegotiatedProtocol)

	h1 := client(func(p *http.Protocols) { p.SetHTTP1(true) })
	resp, err = get(h1)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "HTTP/1.1", resp.Proto, "an HTTP/1.1 client is still served")

	// A fault that cuts the connection resets the stream over h2: the
	// client gets an error, not an answer, and the server goes on.
	srv.Sandbox.AddFaults(sandbox.Fault{Op: sandbox.OpListUploadTokens, Request: 3, Kind: sandbox.FaultCommitThenCut})
	_, err = get(h2)
	require.Error(t, err, "the cut request gets no answer")
	resp, err = get(h2)
	require.NoError(t, err, "the next request is served")
	assert.Equal(t, 2, resp.ProtoMajor)
}
