// Package sandbox is a local, faithful implementation of api.video's five
// delegated-upload endpoints: create, list, show and delete upload tokens, and
// upload a video (whole or in chunks) with a token.
//
// It is built on the strict server interface generated from openapi.yaml
// (package gen), so the client and this server are checked against the same
// contract. Status codes, field names, limits and error titles follow the
// published behaviour of the real service.
//
// # In tests
//
// The simplest use mirrors net/http/httptest, through the small package
// sandboxtest (kept apart so that programs never link package testing):
//
//	func TestUpload(t *testing.T) {
//		srv := sandboxtest.NewServer(t) // closed by t.Cleanup
//		token, err := srv.Sandbox.CreateToken(time.Hour)
//		require.NoError(t, err)
//		// ... point the client at srv.URL, authenticate with srv.APIKey,
//		// upload with token, then inspect what landed:
//		v, ok := srv.Sandbox.Video(videoID)
//		require.True(t, ok)
//		require.True(t, v.Complete)
//	}
//
// A [Sandbox] is also a plain [http.Handler], for use with your own server:
//
//	sb, err := sandbox.New(sandbox.WithAPIKeys("my-key"), sandbox.WithDataDir(dir))
//	http.ListenAndServe("127.0.0.1:8080", sb)
//
// # Storage
//
// Uploaded bytes are kept in memory by default, within a byte budget
// ([WithMemoryBudget], 1 GiB unless set) past which uploads get 507; nothing
// is written to disk. [WithDataDir] stores tokens, chunks and videos on disk
// instead: the upload body is streamed to disk, a multi-gigabyte upload grows
// the server's memory by a few MiB at most, and a Sandbox started again on
// the same directory finds its tokens and videos, partial ones included.
//
// # Limits
//
// A request's file part holds at most 200 MiB ([MaxWholeFileSize]), whole
// file or chunk, as on the real service; a larger one is refused as soon as
// the limit is crossed. A body that sends nothing for 30 seconds
// ([WithBodyIdleTimeout]) ends with 408, and [Start] serves at most 4,096
// connections at once ([WithMaxConnections]), so slow clients cannot exhaust
// the process. Logs ([WithLogger]) never show a token or an API key.
//
// # Rate limits
//
// Every response carries X-RateLimit-Limit, X-RateLimit-Remaining and
// X-RateLimit-Retry-After. Limits are not enforced unless [WithRateLimits] is
// given; [SandboxRateLimits] and [ProductionRateLimits] hold the published
// figures.
//
// # Faults
//
// [Fault] scripts failures per route and per request number: an error status,
// a connection cut after some request bytes, a stall, and a chunk that is
// stored before the connection is cut without a response. See [ParseFault]
// for the textual syntax the CLI uses.
//
// # Bearer tokens
//
// Besides HTTP Basic with the API key, the token routes take a bearer access
// token, as the official SDKs' authenticated clients send it: POST
// /auth/api-key with {"apiKey": KEY} and POST /auth/refresh with
// {"refreshToken": R} answer {"access_token", "token_type": "Bearer",
// "refresh_token", "expires_in": 3600}. An access token lasts
// [AccessTokenTTL]; a refresh token works once.
//
// # Browsers: CORS and TLS
//
// Every API route answers CORS preflights and marks its answers for the
// origins of [WithCORSOrigins] (by default the loopback ones: http or https
// on localhost, 127.0.0.1 or [::1], any port), allowing the headers the
// official clients send and exposing the rate-limit headers, so that a web
// page of another origin can upload with a token. Browser uploaders speak
// https only: [WithTLS] makes [Start] serve https, and
// [SelfSignedCertificate] makes a certificate for local use.
//
// # Inspection
//
// From Go: [Sandbox.Videos], [Sandbox.Video], [Sandbox.VideoBytes],
// [Sandbox.Stats] and [Sandbox.Lint]. Over HTTP, outside the API's paths: GET
// /_sandbox/videos returns a JSON array of
// {"videoId","size","sha256","complete","chunks"}, GET /_sandbox/stats
// returns request counts per operation and status, and GET /_sandbox/lint
// the client mistakes the sandbox saw, per client ([LintReport]).
//
// # Player links
//
// The asset links of a complete video point at the sandbox: /vod/ID is a
// page that plays the video in a <video> element, /vod/ID/mp4/source.mp4
// serves its bytes with Range support (so the player can seek), and
// /vod/ID/thumbnail.jpg is a placeholder image. The HLS link is not served.
//
// # Strict mode
//
// [WithStrict] (on in sandboxtest) refuses what a correct client never
// sends although the API takes it, and names the mistake and its fix in the
// problem's detail; see [LintReport] for what is checked.
package sandbox
