package sandbox

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"time"
)

// selfSignedLifetime is how long a certificate from [SelfSignedCertificate]
// stays valid.
const selfSignedLifetime = 30 * 24 * time.Hour

// WithTLS makes [Start] serve https with cert instead of plain http. Load a
// certificate and key from PEM files with tls.LoadX509KeyPair, or make one
// with [SelfSignedCertificate]. A Sandbox used as a plain http.Handler
// ignores it.
//
// The server speaks HTTP/1.1 over TLS, so that every [Fault] (some cut the
// connection) behaves as it does over plain http; [WithHTTP2] offers HTTP/2
// as well.
func WithTLS(cert tls.Certificate) Option {
	return func(c *config) error {
		if len(cert.Certificate) == 0 || cert.PrivateKey == nil {
			return errors.New("sandbox: WithTLS: the certificate has no certificate or no private key")
		}
		c.tlsCert = &cert
		return nil
	}
}

// WithHTTP2 makes a server from [Start] with [WithTLS] offer HTTP/2 as well
// as HTTP/1.1, as the real service does, so that clients that multiplex
// requests over one connection can be tried. Over HTTP/2 a fault that cuts
// the connection resets the request's stream instead, and a stall holds that
// stream only. Without WithTLS it changes nothing: HTTP/2 over plain http
// is not offered.
func WithHTTP2() Option {
	return func(c *config) error {
		c.http2 = true
		return nil
	}
}

// tlsConfig is the server-side TLS configuration for cert, offering h2
// first when http2.
func tlsConfig(cert *tls.Certificate, http2 bool) *tls.Config {
	protos := []string{"http/1.1"}
	if http2 {
		protos = []string{"h2", "http/1.1"}
	}
	return &tls.Config{
		Certificates: []tls.Certificate{*cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   protos,
	}
}

// SelfSignedCertificate makes a self-signed certificate and its ECDSA P-256
// private key, both PEM-encoded, valid for 30 days for "localhost",
// 127.0.0.1, ::1 and each of hosts (host names or IP addresses; empty ones
// and unspecified addresses such as 0.0.0.0 are skipped). The certificate is
// its own issuer, so clients trust it by adding it to their roots, as
// `curl --cacert cert.pem` does.
func SelfSignedCertificate(hosts ...string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: self-signed certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: self-signed certificate: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"avupload sandbox"}, CommonName: "avupload sandbox"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedLifetime),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() && !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "" && !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: self-signed certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: self-signed certificate: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// SPKIPin returns the base64 SHA-256 of the public key of the first
// certificate in certPEM: the pin that Chromium's
// --ignore-certificate-errors-spki-list flag and HTTP public-key pinning take.
func SPKIPin(certPEM []byte) (string, error) {
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("sandbox: SPKIPin: no PEM certificate found")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("sandbox: SPKIPin: %w", err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:]), nil
}
