// Package wrapper is the avupload client library for api.video's delegated
// uploads: a backend holding the API key mints upload tokens, and anyone
// holding a token uploads videos of any size with it, in resumable chunks,
// without ever seeing the key.
//
// # Minting a token
//
// The backend holds the API key. It builds a client with the key and mints a
// token, here one that lives for an hour (0 makes one that never expires):
//
//	client, err := wrapper.New(wrapper.WithAPIKey(os.Getenv("APIVIDEO_API_KEY")))
//	if err != nil {
//		return err
//	}
//	minted, err := client.CreateUploadToken(ctx, time.Hour)
//	if err != nil {
//		return err
//	}
//	fmt.Println(minted.Token, minted.ExpiresAt) // hand minted.Token to the uploader
//
// # Uploading with a token
//
// The uploader needs no key, only the token (the string minted.Token above,
// called token from here on): a client built with no options talks to
// production and sends the token, and only the token, with [Client.Upload]:
//
//	client, err := wrapper.New()
//	if err != nil {
//		return err
//	}
//	res, err := client.Upload(ctx, token, wrapper.File("talk.mp4"), nil)
//	if err != nil {
//		return err
//	}
//	fmt.Println(res.Video.VideoID)
//
// Upload sends a small file in one request and a large one in chunks, and
// can resume an interrupted upload; see [UploadOptions].
//
// Results are typed values (times as time.Time, lifetimes as time.Duration)
// that also keep the API's answer as it was received: [UploadToken.RawJSON],
// [TokenPage.RawJSON] and [Video.RawJSON] give it byte for byte, with any
// field the typed values do not hold.
//
// # Large uploads, streams and resuming
//
// A source is a file ([File], [OSFile]), anything with ReadAt ([ReaderAt]),
// or a plain stream ([Reader], of known or unknown length, such as standard
// input). Files are streamed from disk into each request without copies;
// memory does not grow with the file. With a [ResumeStore], every chunk
// the API acknowledges is recorded, and running the same upload again
// sends only the others:
//
//	res, err := client.Upload(ctx, token, wrapper.File("talk.mp4"), &wrapper.UploadOptions{
//		ChunkSize:   100 << 20,                             // 5 MiB to 128 MiB; by default sized for the file
//		Concurrency: 16,                                    // the most chunks in flight after the first; 8 by default
//		Store:       wrapper.NewStateFile("talk.mp4.state"), // or NewFileStore(dir), or your own
//		Progress:    func(p wrapper.UploadProgress) { log.Printf("%d/%d", p.Sent, p.Total) },
//	})
//	var failed *wrapper.UploadError
//	if errors.As(err, &failed) {
//		return err // failed.State says which chunks landed; the next run resumes from it
//	}
//	if err != nil {
//		return err
//	}
//	fmt.Println(res.Video.VideoID, res.SHA256)
//
// Chunks go [DefaultConcurrency] at a time after the first from a file,
// one more every few seconds while that sends more, up to
// [DefaultMaxConcurrency] ([DefaultStreamConcurrency] from a [Reader], each
// of whose chunks in flight is a buffer), each on an HTTP/1.1 connection of
// its own, opened while the first chunk goes and reused by the next chunks;
// [UploadOptions].HTTP2 multiplexes them over one HTTP/2 connection
// instead. A file is cut so that the chunks in flight stay busy to the end
// (see [UploadOptions].ChunkSize). These defaults come from measurements
// (docs/PERFORMANCE.md in the repository): on loopback, a few chunks at once
// beat one request holding the whole file; across a link with latency,
// parallel HTTP/1.1 connections went far faster than HTTP/2, whose single
// flow-control window, shared by every chunk of the connection, capped it
// whatever the concurrency.
//
// Each chunk is retried on its own, with the same bytes and range; a chunk
// that stalls for [UploadOptions.StallTimeout] is abandoned and sent again.
// A state holds, for each acknowledged chunk, the source's SHA-256 through
// it, which a resume checks before going on (see [UploadOptions].Store),
// but neither the token nor the API key: a new token goes on with the saved
// video. The result carries the SHA-256 of the bytes the API acknowledged.
// Each byte goes through SHA-256 once: a file is hashed by one pass just
// ahead of the requests, each request's bytes checked against it by a
// cheap fingerprint; a stream as it is read.
//
// # Many files
//
// Package [github.com/avupload/avupload/wrapper/batch], built on this
// one, uploads the files of directories and paths a few at a time, sharing
// the client's connections, with a journal that lets a rerun skip what is
// done, resume what is partial and retry what failed.
//
// # Managing tokens
//
// [Client.GetUploadToken] and [Client.DeleteUploadToken] read and revoke a
// token. [Client.ListUploadTokens] returns one page and its [Pagination];
// [Client.AllUploadTokens] walks every page lazily, one request per page:
//
//	for t, err := range client.AllUploadTokens(ctx, wrapper.ListOptions{SortBy: wrapper.SortByCreatedAt, PageSize: 100}) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(t.CreatedAt, t.NeverExpires())
//	}
//
// Breaking out of the loop sends no further request.
//
// # Handing out tokens to browsers
//
// A [TokenHandler] is the endpoint a backend mounts so that pages, phones
// and devices get short-lived tokens: the backend's own function says who
// asks (it is never guessed), and the handler mints with the key, limits
// each user's tokens (answered 429 with Retry-After), answers CORS for the
// named origins only, and deletes every token it minted when it expires,
// when revoked, and at Close:
//
//	tokens, err := wrapper.NewTokenHandler(client, wrapper.TokenHandlerOptions{
//		Authorize: func(r *http.Request) (string, error) {
//			c, err := r.Cookie("session")
//			if err != nil {
//				return "", wrapper.ErrUnauthorized // answered 401
//			}
//			return c.Value, nil // look the session up in your store instead
//		},
//		AllowedOrigins:   []string{"https://app.example.com"},
//		AllowCredentials: true, // the page sends its cookie
//	})
//	if err != nil {
//		return err
//	}
//	defer tokens.Close(ctx) // after the HTTP server has stopped
//	http.Handle("/upload-token", tokens) // POST; it answers preflights and 405 itself
//
// Its answer, a [TokenGrant], is the options of the official browser
// uploader: new VideoUploader({file, ...grant}).
//
// # Options
//
// [New] takes options, each checked as it is applied; New returns the first
// refusal, which matches [ErrInvalidInput]:
//
//   - [WithAPIKey]: the key, sent as HTTP Basic on the token calls and never
//     on uploads, nor to any host but the API's. New refuses to send a key
//     over plain http to anything but a loopback host; uploads likewise
//     refuse to send the token so, unless [WithInsecureUploadTokenOverHTTP].
//   - [WithSandbox], [WithProduction], [WithBaseURL]: where the API is; a
//     base URL may carry a path prefix.
//   - [WithHTTPClient]: your *http.Client (timeouts, proxies, TLS). Its
//     transport is wrapped, not modified; upload chunks go through an
//     HTTP/1.1 copy of it when it is an *http.Transport, and through it as
//     it is otherwise.
//   - [WithRetryPolicy], [WithoutRetries], [WithStallTimeout], [WithEvents]:
//     see below.
//   - [WithBandwidthLimit], [WithRetryBudget]: the client's pacer; see below.
//   - [WithLogger]: a *slog.Logger for retries and resumed uploads; silent
//     by default.
//   - [WithUserAgent], [WithOriginApp]: how your application names itself.
//     Every request also carries AV-Origin-Client: avupload:[Version].
//
// # Retries, stalls, redirects
//
// Every request goes through one loop, whatever the call: token calls,
// [Client.Raw] calls and each chunk of an upload. [RetryPolicy] documents
// its rules once; in short, retries are on by default ([DefaultRetryPolicy]:
// four attempts); failures that may pass (lost connections, timeouts,
// stalls, 408, 429, 5xx) are retried after a full-jitter exponential wait
// or the wait the server names, up to [DefaultMaxServerWait]: a server
// asking for longer ends the call at once, and its [*APIError] says how
// long it asked for ([APIError.ServerWait]). Failures that would recur (a
// host that does not resolve, a TLS or certificate error) fail at once.
// Decisions follow error types and statuses, not error texts, with one
// exception: whether a chunk the API refuses is already on the server is
// read from the title and detail of its 400 answer, as the API gives that
// refusal no code of its own. A cancelled context ends the wait at once.
//
// Every attempt is bounded by a stall rule: nothing sent and no answer for
// the stall timeout, or an answer not whole within it, abandons the attempt
// ([ErrStalled]); [WithStallTimeout] sets it for token calls and Raw(),
// [UploadOptions.StallTimeout] for uploads. [WithEvents] tells a program of
// every retry and of attempts that make no progress, so that it can say why
// it waits.
//
// One pacer per client, which every request of the client passes (every
// chunk in flight, every upload, every file of a batch made with the client):
// [WithBandwidthLimit] caps the bytes per second of all request bodies
// together; an answer naming a wait (a 429, Retry-After, or
// X-RateLimit-Retry-After once the rate window is spent) holds every new
// request of the client until then, up to RetryPolicy.MaxServerWait, told
// once as an [EventServerPause]; and retries spend from a budget that
// successes refill ([WithRetryBudget]), so that a storm of failures across
// many uploads fails at once ([ErrRetryBudget]) rather than multiplying the
// requests.
//
// No request ever follows a redirect: a 3xx answer is an [*APIError]
// matching [ErrRedirected] that names the status and the host it pointed
// to, and nothing it answered to counts as done.
//
// # Errors
//
// An answer other than success is an [*APIError] holding the status, the
// problem document (type, title, name, detail, problems), the rate-limit
// figures and the operation. Branch on its class with errors.Is and
// [ErrNotFound], [ErrUnauthorized], [ErrForbidden], [ErrBadRequest],
// [ErrRateLimited] or [ErrServer]. A failure to get any answer is an
// [*OpError] that unwraps to its cause (context.Canceled, a net.Error).
// Calls that need the key fail with [ErrNoAPIKey], without a request, on a
// client built without one.
//
// # The generated client
//
// [Client.Raw] returns the generated client for anything this package does
// not cover. It shares the client's base URL, authentication, headers,
// retries, stall rule and refusal of redirects (a 3xx comes back as it is),
// but reports every answer, 404 and 5xx included, as a response rather than
// an error. Here it reads what the typed calls leave out, the
// raw answer's headers:
//
//	resp, err := client.Raw().ListUploadTokensWithResponse(ctx, &gen.ListUploadTokensParams{})
//	if err != nil {
//		return err // no answer at all
//	}
//	if resp.StatusCode() != http.StatusOK {
//		return fmt.Errorf("listing tokens: %s", resp.Status())
//	}
//	fmt.Println(resp.HTTPResponse.Header.Get("X-RateLimit-Remaining"), "requests left this minute;",
//		resp.HTTPResponse.Header.Get("Content-Type"))
//
// # Concurrency
//
// A [Client] is safe for concurrent use by many goroutines; build one and
// share it, as it holds the connections of upload chunks
// ([Client.CloseIdleConnections] closes the idle ones).
//
// # Secrets
//
// Error strings, every field of an [*APIError] and log lines from this
// package never hold the API key or an upload token, even where a server
// echoed them: they are replaced by REDACTED, in URLs too. Text from the
// server (titles, details, video ids) is otherwise passed on as it came:
// escape it before printing it to a terminal. What
// you log yourself is another matter: dumping requests (httputil.DumpRequest,
// a logging RoundTripper in WithHTTPClient) prints the Authorization header,
// which holds the key, and upload URLs, which hold the token.
package wrapper
