package main

import (
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/sandbox"
)

// sandboxTLSDirPattern names the directories 'sandbox --tls' writes its
// certificate in, under the temporary directory, as filepath.Glob reads
// it: a client that does not trust a server looks there for its
// certificate (see sandboxCertFile).
const sandboxTLSDirPattern = "avupload-sandbox-tls-*"

// sandboxWebFlags are the flags of `avupload sandbox` that let browsers
// reach it: https and the origins allowed to call it.
type sandboxWebFlags struct {
	selfSigned bool
	certFile   string
	keyFile    string
	corsOrigin []string
}

// register adds the flags to cmd.
func (w *sandboxWebFlags) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.BoolVar(&w.selfSigned, "tls", false, "serve https with a new self-signed certificate for the listen address and localhost; prints where it is written")
	f.StringVar(&w.certFile, "tls-cert", "", "serve https with the PEM certificate (chain) in this file; needs --tls-key")
	f.StringVar(&w.keyFile, "tls-key", "", "the PEM private key of --tls-cert")
	f.StringSliceVar(&w.corsOrigin, "cors-origin", nil,
		"origin whose web pages may call the sandbox, such as https://app.example:8443 (repeatable); "+
			"default: pages of localhost, 127.0.0.1 and [::1]; * for any page of any site (not recommended)")
}

// check refuses flags that do not go together, and an origin that is
// not one, in the flags' words (cobra's flag groups speak of "groups").
func (w *sandboxWebFlags) check() error {
	switch {
	case w.selfSigned && (w.certFile != "" || w.keyFile != ""):
		return usagef("--tls and --tls-cert/--tls-key cannot be used together: --tls makes its own certificate; choose one")
	case w.certFile != "" && w.keyFile == "":
		return usagef("--tls-cert %s needs --tls-key FILE, the certificate's private key", quoteIfNeeded(w.certFile))
	case w.keyFile != "" && w.certFile == "":
		return usagef("--tls-key %s needs --tls-cert FILE, the certificate it is the key of", quoteIfNeeded(w.keyFile))
	}
	for _, o := range w.corsOrigin {
		if o == "*" {
			continue
		}
		u, err := url.Parse(strings.TrimRight(o, "/"))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return usagef("--cors-origin %s: want an origin (scheme, host and optional port, no path) such as https://app.example:8443, or *", strconv.Quote(o))
		}
	}
	return nil
}

// loadKeyPair reads the --tls-cert and --tls-key files, saying which one
// is wrong and how.
func (w *sandboxWebFlags) loadKeyPair() (tls.Certificate, error) {
	certPEM, err := os.ReadFile(w.certFile)
	if err != nil {
		return tls.Certificate{}, usagef("--tls-cert %s: %s", w.certFile, fileCause(err))
	}
	keyPEM, err := os.ReadFile(w.keyFile)
	if err != nil {
		return tls.Certificate{}, usagef("--tls-key %s: %s", w.keyFile, fileCause(err))
	}
	if block, _ := pem.Decode(certPEM); block == nil || block.Type != "CERTIFICATE" {
		return tls.Certificate{}, usagef("--tls-cert %s holds no PEM certificate (want a -----BEGIN CERTIFICATE----- block)", w.certFile)
	}
	if block, _ := pem.Decode(keyPEM); block == nil || !strings.HasSuffix(block.Type, "PRIVATE KEY") {
		return tls.Certificate{}, usagef("--tls-key %s holds no PEM private key (want a -----BEGIN PRIVATE KEY----- block)", w.keyFile)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, usagef("--tls-cert %s with --tls-key %s: %s", w.certFile, w.keyFile,
			strings.TrimPrefix(err.Error(), "tls: "))
	}
	return cert, nil
}

// fileCause is why a file could not be read, without the system call.
func fileCause(err error) string {
	if pathErr := (*fs.PathError)(nil); errors.As(err, &pathErr) {
		return pathErr.Err.Error()
	}
	return err.Error()
}

// options returns the sandbox options the flags ask for; warn gets the
// warning of --cors-origin '*'. With --tls it writes
// a self-signed certificate and its key into a new directory, tells out
// where, returns that certificate's path as caFile, and a cleanup that
// removes that directory. Over TLS the sandbox offers HTTP/2 as well.
func (w *sandboxWebFlags) options(out, warn io.Writer, addr string) (opts []sandbox.Option, cleanup func(), caFile string, err error) {
	cleanup = func() {}
	if len(w.corsOrigin) > 0 {
		opts = append(opts, sandbox.WithCORSOrigins(w.corsOrigin...))
	}
	if slices.Contains(w.corsOrigin, "*") {
		fmt.Fprintln(warn, "warning: --cors-origin '*' lets any web page open in your browser call this sandbox: "+
			"one that knows its API key (the default one is public) can mint, list and delete upload tokens; "+
			"name the origins of your pages instead, or use --api-key with a key of your own")
	}
	switch {
	case w.certFile != "":
		cert, err := w.loadKeyPair()
		if err != nil {
			return nil, cleanup, "", err
		}
		opts = append(opts, sandbox.WithTLS(cert), sandbox.WithHTTP2())
	case w.selfSigned:
		host, _, _ := net.SplitHostPort(addr)
		certPEM, keyPEM, err := sandbox.SelfSignedCertificate(host)
		if err != nil {
			return nil, cleanup, "", fmt.Errorf("--tls: %w", err)
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, cleanup, "", fmt.Errorf("--tls: %w", err)
		}
		pin, err := sandbox.SPKIPin(certPEM)
		if err != nil {
			return nil, cleanup, "", fmt.Errorf("--tls: %w", err)
		}
		dir, err := os.MkdirTemp("", strings.TrimSuffix(sandboxTLSDirPattern, "*"))
		if err != nil {
			return nil, cleanup, "", fmt.Errorf("--tls: cannot make a directory for the certificate: %w", err)
		}
		cleanup = func() { _ = os.RemoveAll(dir) }
		certPath, keyPath := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
			cleanup()
			return nil, func() {}, "", fmt.Errorf("--tls: cannot write the certificate: %w", err)
		}
		if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
			cleanup()
			return nil, func() {}, "", fmt.Errorf("--tls: cannot write the key: %w", err)
		}
		fmt.Fprintf(out, "sandbox TLS certificate: %s (self-signed, removed at exit; trust it with curl --cacert %s)\n", certPath, certPath)
		fmt.Fprintf(out, "sandbox TLS key: %s\n", keyPath)
		fmt.Fprintf(out, "sandbox TLS public-key pin: %s (for chromium --ignore-certificate-errors-spki-list)\n", pin)
		opts = append(opts, sandbox.WithTLS(cert), sandbox.WithHTTP2())
		caFile = certPath
	}
	return opts, cleanup, caFile, nil
}
