// Command hostile measures how long the client takes to give up on servers
// that misbehave, with default options, and prints a Markdown table for
// docs/RELIABILITY.md. Every server listens on 127.0.0.1; the scenarios run
// at once, so the whole run lasts as long as the slowest (about nine
// minutes: an upload against a server that never answers gives up after
// four attempts of two minutes each).
//
//	go run ./bench/hostile [-only SUBSTRING]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/avupload/avupload/internal/testutil"
	"github.com/avupload/avupload/wrapper"
)

const (
	key   = "hostile-bench-key"
	token = "toHostileBenchToken"
)

// scenario is one misbehaving server and the call made against it.
type scenario struct {
	name   string
	server http.HandlerFunc
	upload bool // an upload of a small file, else GetUploadToken
	tls    bool
}

func main() {
	scenarios := []scenario{
		{name: "token call; accepts, never answers", server: silent},
		{name: "token call; status line and headers a byte per second", server: dripHeaders},
		{name: "token call; 200, then the body a byte per second", server: dripBody},
		{name: "token call; 503 every time, no wait named", server: status(503)},
		{name: "token call; 503, Retry-After: 3600", server: status(503, "Retry-After", "3600")},
		{name: "token call; 503, Retry-After in year 9999", server: status(503, "Retry-After", "Fri, 31 Dec 9999 23:59:59 GMT")},
		{name: "token call; 429, Retry-After: 99999", server: status(429, "Retry-After", "99999")},
		{name: "token call; 429, X-RateLimit-Remaining: 0, X-RateLimit-Retry-After: 86400", server: status(429, "X-RateLimit-Remaining", "0", "X-RateLimit-Retry-After", "86400")},
		{name: "token call; 302 to another host", server: redirect},
		{name: "token call; connection closed before any answer", server: hangUp},
		{name: "token call; certificate not trusted", server: status(200), tls: true},
		{name: "upload; accepts the body, never answers", server: silent, upload: true},
		{name: "upload; 201, then the body a byte per second", server: dripBody, upload: true},
		{name: "upload; 307 to another host", server: redirect, upload: true},
		{name: "upload; 429, X-RateLimit-Remaining: 0, X-RateLimit-Retry-After: 86400", server: status(429, "X-RateLimit-Remaining", "0", "X-RateLimit-Retry-After", "86400"), upload: true},
	}
	only := flag.String("only", "", "run only the scenarios whose name holds this text")
	flag.Parse()
	scenarios = slices.DeleteFunc(scenarios, func(s scenario) bool { return !strings.Contains(s.name, *only) })
	results := make([]string, len(scenarios))
	var wg sync.WaitGroup
	for i, s := range scenarios {
		wg.Go(func() { results[i] = s.run() })
	}
	refused := ""
	if strings.Contains("token call; connection refused", *only) {
		refused = refusedConnection()
	}

	wg.Wait()
	fmt.Printf("| scenario | attempts | time to give up | error |\n|---|---|---|---|\n")
	for _, r := range results {
		fmt.Println(r)
	}
	if refused != "" {
		fmt.Println(refused)
	}
}

// run serves s and makes its call with a client built with default options.
func (s scenario) run() string {
	var mu sync.Mutex
	attempts := 0
	h := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		mu.Unlock()
		s.server(w, r)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(h))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if s.tls {
		// The handler never runs: count the connections.
		srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
			if state == http.StateNew {
				mu.Lock()
				attempts++
				mu.Unlock()
			}
		}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	defer srv.Close()
	start := time.Now()
	err := call(srv.URL, s.upload)
	elapsed := time.Since(start)
	mu.Lock()
	n := attempts
	mu.Unlock()
	return fmt.Sprintf("| %s | %d | %s | %s |", s.name, n, elapsed.Round(100*time.Millisecond), describe(err))
}

// call makes the scenario's call with default options.
func call(base string, upload bool) error {
	opts := []wrapper.Option{wrapper.WithBaseURL(base)}
	if !upload {
		opts = append(opts, wrapper.WithAPIKey(key))
	}
	c, err := wrapper.New(opts...)
	if err != nil {
		return err
	}
	ctx := context.Background()
	if upload {
		_, err = c.Upload(ctx, token, wrapper.Reader(strings.NewReader("a small video"), 13), nil)
		return err
	}
	_, err = c.GetUploadToken(ctx, token)
	return err
}

// refusedConnection measures a call to a port nobody listens on.
func refusedConnection() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	start := time.Now()
	err = call("http://"+addr, false)
	return fmt.Sprintf("| token call; connection refused | 4 | %s | %s |", time.Since(start).Round(100*time.Millisecond), describe(err))
}

// describe names the sentinel an error matches, or its type.
func describe(err error) string {
	if err == nil {
		return "none (success)"
	}
	for _, s := range []struct {
		err  error
		name string
	}{
		{wrapper.ErrStalled, "ErrStalled"}, {wrapper.ErrRedirected, "ErrRedirected"},
		{wrapper.ErrRateLimited, "ErrRateLimited"}, {wrapper.ErrServer, "ErrServer"},
	} {
		if errors.Is(err, s.err) {
			var apiErr *wrapper.APIError
			if errors.As(err, &apiErr) && apiErr.ServerWait > 0 {
				return fmt.Sprintf("%s, ServerWait %s", s.name, apiErr.ServerWait.Round(time.Second))
			}
			return s.name
		}
	}
	var opErr *wrapper.OpError
	if errors.As(err, &opErr) {
		return "*OpError"
	}
	return fmt.Sprintf("%T", err)
}

// The misbehaving servers (see internal/testutil), a byte a second for
// those that drip.
var (
	silent      = testutil.Silent
	hangUp      = testutil.HangUp
	dripHeaders = testutil.DripHeaders(time.Second)
	// Leading blanks are valid JSON: the object comes only after a day.
	dripBody = testutil.DripBody(http.StatusCreated, strings.Repeat(" ", 86400)+`{"videoId":"viX","token":"toX"}`, time.Second)
)

func status(code int, headers ...string) http.HandlerFunc {
	return testutil.Answer(code, `{"token":"toX","videoId":"viX","title":"busy","status":`+fmt.Sprint(code)+`}`, headers...)
}

var other = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	fmt.Fprintln(os.Stderr, "hostile: the redirect target got a request")
	w.WriteHeader(http.StatusCreated)
}))

func redirect(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	code := http.StatusFound
	if r.Method == http.MethodPost {
		code = http.StatusTemporaryRedirect
	}
	http.Redirect(w, r, other.URL+"/upload?token="+token, code)
}
