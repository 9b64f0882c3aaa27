package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"

	"github.com/spf13/cobra"

	"github.com/avupload/avupload/sandbox"
)

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
	cmd.MarkFlagsRequiredTogether("tls-cert", "tls-key")
	cmd.MarkFlagsMutuallyExclusive("tls", "tls-cert")
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
		cert, err := tls.LoadX509KeyPair(w.certFile, w.keyFile)
		if err != nil {
			return nil, cleanup, "", fmt.Errorf("--tls-cert %s with --tls-key %s: %w", w.certFile, w.keyFile, err)
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
		dir, err := os.MkdirTemp("", "avupload-sandbox-tls-")
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
