// Package e2e holds the project's proof under stress: tests that drive the
// whole stack (the wrapper client, the avupload command built as a real
// binary, and the sandbox server) through failures, crashes and hostile
// input. It has no non-test code; it exists so that these checks, which
// cross package boundaries, live in one place and run with every
// `go test ./...` (and so `make test` and CI).
//
// What is here:
//
//   - TestFaultMatrix: every fault kind the sandbox injects (5xx and 429
//     answers, a connection cut mid-request, a stall longer than the client's
//     StallTimeout, a chunk stored but its answer lost) on the first, a
//     middle and the last chunk, at concurrency 1 and 4. Every upload must
//     complete with the server's SHA-256 equal to the source's and exactly
//     one complete video. The matrix is logged, and written to
//     $E2E_RESULTS/fault-matrix.md when E2E_RESULTS names a directory.
//   - TestCrashResume: the avupload binary, built without the race
//     detector, killed with SIGKILL at random moments (the seed is logged,
//     and E2E_CRASH_SEED replays a run), then resumed from its state file.
//     It counts the bytes the server received twice and holds them to one
//     chunk per crash. Results are logged, and written to
//     $E2E_RESULTS/crash-resume.md when E2E_RESULTS names a directory.
//   - TestBatchCrashResume: a batch of chunked files (the binary, --jobs 2,
//     a journal) killed with SIGKILL three times at random moments, then
//     rerun to the end, five rounds: every file must be exactly one complete
//     video with its SHA-256. TestBatchShardsWithAPIKey: shards 1/2 and 2/2
//     with the API key only cover a tree exactly once and leave no token.
//   - TestSecrets*: the API key and upload tokens never show in errors,
//     logs, state files or the command's output; the API key never reaches
//     POST /upload; an API key is never sent over plain http to a host
//     that is not loopback.
//   - Fuzz*: fuzz targets for what crosses package boundaries (the state
//     file decoder through StateFile, problem documents through the client,
//     Content-Range values built by the client and checked by the sandbox).
//     Run them with `make fuzz`; their seeds run as plain tests.
//
// The sizes are small (5 MiB chunks) so that the package runs in well under
// three minutes with -race on two cores. The whole-process throughput and
// memory comparisons are in bench/ (`make bench`), not here: no test here
// asserts on speed.
package e2e
