// Package temporal migrates whole video libraries to api.video as a
// Temporal workflow, on avupload's wrapper: the work of uploading a
// million files is shared by any number of workers, a worker that dies
// hands its file to another one, which goes on at the last acknowledged
// chunk, and one query says where the migration stands.
//
// It lives in a module of its own (github.com/avupload/avupload/contrib/temporal)
// because the Temporal SDK needs a newer Go than avupload itself; avupload
// never imports it.
//
// # Pieces
//
//   - [Migrate] is the workflow. It reads a manifest (a list of files with
//     their sizes, inline or as a JSON-lines file on the shared filesystem,
//     see [WriteManifest]), keeps at most [MigrateInput.MaxInFlight] files
//     uploading at once, records each file's outcome, continues as new
//     every [MigrateInput.FilesPerRun] files so that its history stays small,
//     and answers the query [QueryProgress] with a [Progress].
//   - [Uploader] holds the activities every upload worker registers:
//     UploadFile, which runs wrapper.Client.Upload with a resume store kept
//     in the activity's heartbeat details, so that a retried attempt, on any
//     worker, resumes at the last acknowledged chunk; ReadManifest; and
//     WriteOutcomes.
//   - [Minter] holds MintToken and DeleteTokens, which need the API key:
//     only the workers that hold the key register it, on their own task
//     queue ([MigrateInput.MintQueue]) when the upload workers must not hold
//     the key.
//
// # Tokens
//
// The workflow mints an upload token, renews it [MigrateInput.RenewBefore]
// before it expires, and deletes every token it minted when the migration
// ends. An upload whose token the API refuses (it expired mid-file) stops
// with its state; the workflow mints a new token and starts the file again
// from that state, so only the missing chunks go. Tokens travel in the
// activities' inputs and so are stored in the workflow's history: use a
// Temporal payload codec that encrypts them if the history is readable by
// people who must not upload.
//
// # Rate limits
//
// The API limits uploads per minute and account. Set
// worker.Options.TaskQueueActivitiesPerSecond on every upload worker (the
// server enforces it for the task queue, across all its workers) to bound
// how many files start per second, and MaxInFlight × Uploader.Concurrency
// to bound the chunks in flight; a 429 that still comes is waited out by
// the wrapper's retry policy, and past it by the activity's retries, which
// resume where the file stopped.
package temporal
