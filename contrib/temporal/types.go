package temporal

import (
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/avupload/avupload/wrapper"
)

// The names under which the workflow, its query and its activities are
// registered: workers and starters in other languages use them too.
const (
	WorkflowName          = "avupload.Migrate"
	QueryProgress         = "progress"
	ActivityUploadFile    = "avupload.UploadFile"
	ActivityReadManifest  = "avupload.ReadManifest"
	ActivityWriteOutcomes = "avupload.WriteOutcomes"
	ActivityMintToken     = "avupload.MintToken"
	ActivityDeleteTokens  = "avupload.DeleteTokens"
)

// The types of the application errors the activities fail with, that the
// workflow (or a caller) branches on. All but ErrTokenRefused are not
// retried.
const (
	// ErrTokenRefused: the API refused the upload token (expired, deleted).
	// The error's details hold the upload's [Heartbeat], from which the
	// workflow starts the file again with a new token.
	ErrTokenRefused = "TokenRefused"
	// ErrSourceUnreadable: the file cannot be opened or read on the worker
	// (missing, a directory, no permission, outside the source root).
	ErrSourceUnreadable = "SourceUnreadable"
	// ErrRefused: the API refused the upload for good (400, 403: a file it
	// does not take, a suspended account), or avupload refused its input.
	ErrRefused = "Refused"
	// ErrStateConflict: the state carried over from an earlier attempt does
	// not fit the file (another API base URL, another video).
	ErrStateConflict = "StateConflict"
)

// File is one file of a manifest: its path, relative to the source root
// every worker mounts (forward slashes), and its size when the manifest was
// made. It is one line of a manifest file, as JSON.
type File struct {
	Path string `json:"path"`
	Size int64  `json:"size"`
}

// MigrateInput starts a migration. Give the files either inline (Files,
// for a few thousand at most: they are part of every run's input) or as a
// manifest file on the shared filesystem (Manifest, for any number). The
// zero values of the other fields are the defaults written beside them.
type MigrateInput struct {
	// Files is the manifest inline.
	Files []File `json:"files,omitempty"`
	// Manifest is the path of a manifest file (JSON lines of File, as
	// WriteManifest writes), relative to the source root of the workers
	// that run ReadManifest.
	Manifest string `json:"manifest,omitempty"`
	// Outcomes, when set, is a directory relative to the source root where
	// each run writes the outcome of each of its files, one JSON line per
	// file (see Outcome), in outcomes-RUN.jsonl.
	Outcomes string `json:"outcomes,omitempty"`
	// MaxInFlight is how many files upload at once: 4.
	MaxInFlight int `json:"maxInFlight,omitempty"`
	// FilesPerRun is how many files a run starts before it continues as
	// new, which keeps each run's history small: 500.
	FilesPerRun int `json:"filesPerRun,omitempty"`
	// PageSize is how many manifest lines ReadManifest returns at once: 200.
	PageSize int `json:"pageSize,omitempty"`
	// Token is an upload token to use as it is: no token is minted,
	// renewed or deleted, and a file whose upload it no longer opens fails.
	// Leave it empty to have the workflow mint tokens (MintToken).
	Token string `json:"token,omitempty"`
	// TokenTTL is the life of each minted token, whole seconds: one hour.
	TokenTTL time.Duration `json:"tokenTtl,omitempty"`
	// RenewBefore is how long before a minted token expires a new one is
	// minted for the next files: a quarter of TokenTTL.
	RenewBefore time.Duration `json:"renewBefore,omitempty"`
	// UploadQueue is the task queue of the upload workers (Uploader): the
	// workflow's own task queue when empty.
	UploadQueue string `json:"uploadQueue,omitempty"`
	// MintQueue is the task queue of the workers that hold the API key and
	// register Minter: the workflow's own task queue when empty.
	MintQueue string `json:"mintQueue,omitempty"`
	// HeartbeatTimeout is how long a silent upload attempt lives before
	// Temporal gives its file to another worker: one minute.
	HeartbeatTimeout time.Duration `json:"heartbeatTimeout,omitempty"`
	// UploadTimeout bounds one attempt of one file (StartToClose): 24 hours.
	UploadTimeout time.Duration `json:"uploadTimeout,omitempty"`
	// Retry is the retry policy of UploadFile: Temporal's default
	// (1 s doubling to 100 s) with at most 20 attempts.
	Retry *temporal.RetryPolicy `json:"retry,omitempty"`
	// State is what a run hands to the next one when it continues as new;
	// nil to start a migration.
	State *RunState `json:"state,omitempty"`
}

// RunState is what one run of Migrate hands to the next.
type RunState struct {
	// Next is the index in the manifest of the first file not yet started.
	Next int `json:"next"`
	// Progress is the migration's progress so far.
	Progress Progress `json:"progress"`
	// Tokens are the tokens minted so far, to delete at the end.
	Tokens []string `json:"tokens,omitempty"`
	// Current is the token new files go with, and RenewAt when to mint
	// another one (workflow time).
	Current string    `json:"current,omitempty"`
	RenewAt time.Time `json:"renewAt,omitzero"`
	// Failed are the first failures, at most MaxFailuresKept of them.
	Failed []Outcome `json:"failed,omitempty"`
}

// MaxFailuresKept bounds the failures a migration keeps in its state and
// result; Outcomes has them all.
const MaxFailuresKept = 100

// Progress is what the query QueryProgress answers: counts since the
// migration started, across its runs.
type Progress struct {
	// FilesTotal and BytesTotal are the manifest's files and their sizes.
	FilesTotal int   `json:"filesTotal"`
	BytesTotal int64 `json:"bytesTotal"`
	// FilesDone are the files uploaded, BytesDone their bytes.
	FilesDone int   `json:"filesDone"`
	BytesDone int64 `json:"bytesDone"`
	// FilesFailed are the files given up on (see MigrateResult.Failed).
	FilesFailed int `json:"filesFailed"`
	// FilesInFlight are the files being uploaded now.
	FilesInFlight int `json:"filesInFlight"`
	// Runs is the number of the current run, from 1: it grows by one at
	// each continue-as-new.
	Runs int `json:"runs"`
	// TokensMinted is how many upload tokens the migration minted.
	TokensMinted int `json:"tokensMinted"`
}

// Outcome is what became of one file.
type Outcome struct {
	Path string `json:"path"`
	// Index is the file's place in the manifest.
	Index int `json:"index"`
	// OK says it was uploaded; then VideoID, SHA256 (of the bytes the API
	// acknowledged) and Size are set. Otherwise Error says why it failed.
	OK      bool   `json:"ok"`
	VideoID string `json:"videoId,omitempty"`
	SHA256  string `json:"sha256,omitempty"`
	Size    int64  `json:"size"`
	// ResumedChunks is how many chunks an earlier attempt had sent.
	ResumedChunks int `json:"resumedChunks,omitempty"`
	// Attempts is the attempt of UploadFile that finished the file.
	Attempts int32  `json:"attempts,omitempty"`
	Error    string `json:"error,omitempty"`
}

// MigrateResult is what Migrate returns when every file was tried.
type MigrateResult struct {
	Progress Progress `json:"progress"`
	// Failed are the first MaxFailuresKept failures.
	Failed []Outcome `json:"failed,omitempty"`
	// TokensNotDeleted is how many minted tokens could not be deleted at
	// the end (they expire by themselves after TokenTTL).
	TokensNotDeleted int `json:"tokensNotDeleted,omitempty"`
}

// UploadFileInput is the input of UploadFile.
type UploadFileInput struct {
	File File `json:"file"`
	// Token is the upload token.
	Token string `json:"token"`
	// Resume, when set, is the state of an earlier upload of the file to go
	// on from (a refused token's); a retried attempt's own heartbeat wins.
	Resume *wrapper.UploadState `json:"resume,omitempty"`
}

// UploadFileResult is the result of UploadFile.
type UploadFileResult struct {
	VideoID       string `json:"videoId"`
	SHA256        string `json:"sha256"`
	Size          int64  `json:"size"`
	Chunks        int    `json:"chunks"`
	ResumedChunks int    `json:"resumedChunks"`
	ResumedBytes  int64  `json:"resumedBytes"`
	Attempt       int32  `json:"attempt"`
}

// Heartbeat is what UploadFile records as heartbeat details: the upload's
// resume state, saved before each chunk goes and after each is
// acknowledged, and its progress.
type Heartbeat struct {
	State *wrapper.UploadState `json:"state,omitempty"`
	Acked int64                `json:"acked"`
	Sent  int64                `json:"sent"`
	Total int64                `json:"total"`
}

// MintTokenInput is the input of MintToken.
type MintTokenInput struct {
	TTL time.Duration `json:"ttl"`
}

// MintedToken is the result of MintToken.
type MintedToken struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// ReadManifestInput asks for Limit files of a manifest file from Offset.
// Count also counts every file and byte of the manifest.
type ReadManifestInput struct {
	Path   string `json:"path"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
	Count  bool   `json:"count,omitempty"`
}

// ManifestPage is the result of ReadManifest.
type ManifestPage struct {
	Files []File `json:"files"`
	// Files and Bytes in the whole manifest, when asked to Count.
	TotalFiles int   `json:"totalFiles,omitempty"`
	TotalBytes int64 `json:"totalBytes,omitempty"`
}

// WriteOutcomesInput is the input of WriteOutcomes.
type WriteOutcomesInput struct {
	Dir      string    `json:"dir"`
	Run      int       `json:"run"`
	Outcomes []Outcome `json:"outcomes"`
}
