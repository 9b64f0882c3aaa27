// Command client uploads one file with the wrapper: the child process
// wanbench times and measures the CPU of. It is a program of its own, not
// a mode of wanbench, so that it starts as a program linking the library
// alone would: wanbench links the sandbox too, whose packages took about
// 20 ms to initialize before each upload could start.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"

	"github.com/avupload/avupload/wrapper"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "wanbench client:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("client", flag.ContinueOnError)
	url := fs.String("url", "", "base URL")
	token := fs.String("token", "", "upload token")
	file := fs.String("file", "", "file to upload")
	cacert := fs.String("cacert", "", "PEM certificate to trust")
	chunk := fs.Int64("chunk", 0, "chunk size in bytes; 0: the library's default")
	conc := fs.Int("conc", 0, "concurrency; 0: the library's default")
	proto := fs.String("proto", "h1", "h1 (the library's default: an HTTP/1.1 connection per chunk in flight) or h2 (UploadOptions.HTTP2: one multiplexed connection)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pem, err := os.ReadFile(*cacert)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return errors.New("no certificate in " + *cacert)
	}
	if *proto != "h1" && *proto != "h2" {
		return fmt.Errorf("-proto %q: want h1 or h2", *proto)
	}
	// Only the trust changes: the protocol is the library's to choose.
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	c, err := wrapper.New(wrapper.WithBaseURL(*url), wrapper.WithHTTPClient(&http.Client{Transport: tr}))
	if err != nil {
		return err
	}
	_, err = c.Upload(context.Background(), *token, wrapper.File(*file),
		&wrapper.UploadOptions{ChunkSize: *chunk, Concurrency: *conc, HTTP2: *proto == "h2"})
	return err
}
