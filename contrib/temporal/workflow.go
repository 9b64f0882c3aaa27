package temporal

import (
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Defaults of MigrateInput.
const (
	DefaultMaxInFlight      = 4
	DefaultFilesPerRun      = 500
	DefaultPageSize         = 200
	DefaultTokenTTL         = time.Hour
	DefaultHeartbeatTimeout = time.Minute
	DefaultUploadTimeout    = 24 * time.Hour
	DefaultMaxAttempts      = 20
	// maxTokenRetries bounds how many times one file starts again with a
	// new token after the API refused the one it had.
	maxTokenRetries = 3
)

// RegisterWorkflow registers Migrate under WorkflowName.
func RegisterWorkflow(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(Migrate, workflow.RegisterOptions{Name: WorkflowName})
}

func (in *MigrateInput) defaults() {
	if in.MaxInFlight <= 0 {
		in.MaxInFlight = DefaultMaxInFlight
	}
	if in.FilesPerRun <= 0 {
		in.FilesPerRun = DefaultFilesPerRun
	}
	if in.PageSize <= 0 {
		in.PageSize = DefaultPageSize
	}
	if in.TokenTTL <= 0 {
		in.TokenTTL = DefaultTokenTTL
	}
	if in.RenewBefore <= 0 {
		in.RenewBefore = in.TokenTTL / 4
	}
	if in.HeartbeatTimeout <= 0 {
		in.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if in.UploadTimeout <= 0 {
		in.UploadTimeout = DefaultUploadTimeout
	}
}

func (in *MigrateInput) validate() error {
	switch {
	case len(in.Files) > 0 && in.Manifest != "":
		return errors.New("give the files inline or as a manifest file, not both")
	case in.TokenTTL%time.Second != 0:
		return fmt.Errorf("the token lifetime %s is not whole seconds", in.TokenTTL)
	case in.RenewBefore >= in.TokenTTL:
		return fmt.Errorf("renewing %s before expiry leaves nothing of a %s token", in.RenewBefore, in.TokenTTL)
	}
	return nil
}

// job is one file being uploaded.
type job struct {
	index        int
	file         File
	token        string
	resume       *Heartbeat
	tokenRetries int
}

// done is the end of one job's activity.
type done struct {
	job *job
	res UploadFileResult
	err error
}

type migration struct {
	ctx      workflow.Context
	in       MigrateInput
	st       *RunState
	inFlight int
	outcomes []Outcome // this run's
	page     []File    // manifest files from pageAt
	pageAt   int
	finished []done
}

// Migrate uploads every file of the manifest (see MigrateInput), at most
// MaxInFlight at once, and returns once each was uploaded or given up on;
// a file is given up on when its activity fails for good (a source it
// cannot read, a refusal by the API, attempts exhausted). It continues as
// new every FilesPerRun files. The query QueryProgress answers a Progress.
func Migrate(ctx workflow.Context, in MigrateInput) (*MigrateResult, error) {
	in.defaults()
	if err := in.validate(); err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", nil)
	}
	st := in.State
	if st == nil {
		st = &RunState{Progress: Progress{FilesTotal: -1}}
	}
	st.Progress.Runs++
	st.Progress.FilesInFlight = 0
	m := &migration{ctx: ctx, in: in, st: st, pageAt: st.Next}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, func() (Progress, error) {
		p := m.st.Progress
		p.FilesInFlight = m.inFlight
		return p, nil
	}); err != nil {
		return nil, err
	}
	res, err := m.run()
	if err != nil && !workflow.IsContinueAsNewError(err) {
		// Whatever failed, the tokens minted must not outlive the
		// migration.
		m.deleteTokens()
	}
	return res, err
}

func (m *migration) run() (*MigrateResult, error) {
	ctx := m.ctx
	if m.st.Progress.FilesTotal < 0 {
		if err := m.count(); err != nil {
			return nil, err
		}
	}
	sel := workflow.NewSelector(ctx)
	started, more := 0, true
	for {
		for more && m.inFlight < m.in.MaxInFlight && started < m.in.FilesPerRun {
			f, ok, err := m.nextFile()
			if err != nil {
				return nil, err
			}
			if !ok {
				more = false
				break
			}
			j := &job{index: m.st.Next, file: f}
			m.st.Next++
			started++
			if err := m.start(sel, j); err != nil {
				return nil, err
			}
		}
		if m.inFlight == 0 {
			break
		}
		sel.Select(ctx)
		for len(m.finished) > 0 {
			d := m.finished[0]
			m.finished = m.finished[1:]
			if err := m.settle(sel, d); err != nil {
				return nil, err
			}
		}
	}
	if err := m.writeOutcomes(); err != nil {
		return nil, err
	}
	if more && m.st.Next < m.st.Progress.FilesTotal {
		next := m.in
		next.State = m.st
		return nil, workflow.NewContinueAsNewError(ctx, WorkflowName, next)
	}
	res := &MigrateResult{Progress: m.st.Progress, Failed: m.st.Failed}
	res.TokensNotDeleted = m.deleteTokens()
	return res, nil
}

// count sets the manifest's totals.
func (m *migration) count() error {
	if m.in.Manifest == "" {
		m.st.Progress.FilesTotal = len(m.in.Files)
		for _, f := range m.in.Files {
			m.st.Progress.BytesTotal += f.Size
		}
		return nil
	}
	var page ManifestPage
	err := workflow.ExecuteActivity(m.shortOptions(m.ctx, m.in.UploadQueue), ActivityReadManifest,
		ReadManifestInput{Path: m.in.Manifest, Offset: m.st.Next, Limit: m.in.PageSize, Count: true}).Get(m.ctx, &page)
	if err != nil {
		return err
	}
	m.st.Progress.FilesTotal, m.st.Progress.BytesTotal = page.TotalFiles, page.TotalBytes
	m.page, m.pageAt = page.Files, m.st.Next
	return nil
}

// nextFile returns the file at m.st.Next, reading the manifest's next
// page when needed; ok is false past the last file.
func (m *migration) nextFile() (f File, ok bool, err error) {
	i := m.st.Next
	if m.in.Manifest == "" {
		if i >= len(m.in.Files) {
			return File{}, false, nil
		}
		return m.in.Files[i], true, nil
	}
	if i < m.pageAt || i >= m.pageAt+len(m.page) {
		if i >= m.st.Progress.FilesTotal {
			return File{}, false, nil
		}
		var page ManifestPage
		err := workflow.ExecuteActivity(m.shortOptions(m.ctx, m.in.UploadQueue), ActivityReadManifest,
			ReadManifestInput{Path: m.in.Manifest, Offset: i, Limit: m.in.PageSize}).Get(m.ctx, &page)
		if err != nil {
			return File{}, false, err
		}
		m.page, m.pageAt = page.Files, i
		if len(page.Files) == 0 {
			return File{}, false, nil
		}
	}
	return m.page[i-m.pageAt], true, nil
}

// shortOptions are the activity options of the small activities, on queue
// (the workflow's own when empty).
func (m *migration) shortOptions(ctx workflow.Context, queue string) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           queue,
		StartToCloseTimeout: 2 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 10},
	})
}

// token returns the token a new upload goes with, minting one when there
// is none or the current one is due for renewal.
func (m *migration) token() (string, error) {
	if m.in.Token != "" {
		return m.in.Token, nil
	}
	if m.st.Current != "" && workflow.Now(m.ctx).Before(m.st.RenewAt) {
		return m.st.Current, nil
	}
	return m.mint()
}

// mint mints a new current token. Its expiry is reckoned from the time it
// was asked for, on the workflow's clock: never later than the API's.
func (m *migration) mint() (string, error) {
	asked := workflow.Now(m.ctx)
	var t MintedToken
	err := workflow.ExecuteActivity(m.shortOptions(m.ctx, m.in.MintQueue), ActivityMintToken,
		MintTokenInput{TTL: m.in.TokenTTL}).Get(m.ctx, &t)
	if err != nil {
		return "", err
	}
	m.st.Tokens = append(m.st.Tokens, t.Token)
	m.st.Progress.TokensMinted++
	m.st.Current, m.st.RenewAt = t.Token, asked.Add(m.in.TokenTTL-m.in.RenewBefore)
	return t.Token, nil
}

// start starts j's upload.
func (m *migration) start(sel workflow.Selector, j *job) error {
	tok, err := m.token()
	if err != nil {
		return err
	}
	j.token = tok
	in := UploadFileInput{File: j.file, Token: tok}
	if j.resume != nil {
		in.Resume = j.resume.State
	}
	retry := m.in.Retry
	if retry == nil {
		retry = &temporal.RetryPolicy{MaximumAttempts: DefaultMaxAttempts}
	}
	actx := workflow.WithActivityOptions(m.ctx, workflow.ActivityOptions{
		TaskQueue:           m.in.UploadQueue,
		StartToCloseTimeout: m.in.UploadTimeout,
		HeartbeatTimeout:    m.in.HeartbeatTimeout,
		RetryPolicy:         retry,
	})
	fut := workflow.ExecuteActivity(actx, ActivityUploadFile, in)
	m.inFlight++
	sel.AddFuture(fut, func(f workflow.Future) {
		d := done{job: j}
		d.err = f.Get(m.ctx, &d.res)
		m.finished = append(m.finished, d)
	})
	return nil
}

// settle records a finished upload, or starts it again with a new token
// when the API refused its token.
func (m *migration) settle(sel workflow.Selector, d done) error {
	m.inFlight--
	j := d.job
	var appErr *temporal.ApplicationError
	if d.err != nil && errors.As(d.err, &appErr) && appErr.Type() == ErrTokenRefused &&
		m.in.Token == "" && j.tokenRetries < maxTokenRetries {
		var hb Heartbeat
		if appErr.HasDetails() {
			if err := appErr.Details(&hb); err != nil {
				hb = Heartbeat{}
			}
		}
		if j.token == m.st.Current {
			// The current token no longer opens uploads: every new file
			// needs another.
			if _, err := m.mint(); err != nil {
				return err
			}
		}
		j.resume, j.tokenRetries = &hb, j.tokenRetries+1
		return m.start(sel, j)
	}
	o := Outcome{Path: j.file.Path, Index: j.index, Size: j.file.Size}
	if d.err == nil {
		o.OK, o.VideoID, o.SHA256, o.Size = true, d.res.VideoID, d.res.SHA256, d.res.Size
		o.ResumedChunks, o.Attempts = d.res.ResumedChunks, d.res.Attempt
		m.st.Progress.FilesDone++
		m.st.Progress.BytesDone += d.res.Size
	} else {
		o.Error = failureMessage(d.err)
		m.st.Progress.FilesFailed++
		if len(m.st.Failed) < MaxFailuresKept {
			m.st.Failed = append(m.st.Failed, o)
		}
		workflow.GetLogger(m.ctx).Warn("a file failed", "path", j.file.Path, "error", o.Error)
	}
	m.outcomes = append(m.outcomes, o)
	return nil
}

// failureMessage is the cause of an activity's failure, without the
// activity error's own wording (ids, attempt numbers).
func failureMessage(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Error()
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "the upload timed out: " + te.Error()
	}
	if u := errors.Unwrap(err); u != nil {
		return u.Error()
	}
	return err.Error()
}

// writeOutcomes writes the run's outcomes when the migration keeps them.
func (m *migration) writeOutcomes() error {
	if m.in.Outcomes == "" || len(m.outcomes) == 0 {
		return nil
	}
	return workflow.ExecuteActivity(m.shortOptions(m.ctx, m.in.UploadQueue), ActivityWriteOutcomes,
		WriteOutcomesInput{Dir: m.in.Outcomes, Run: m.st.Progress.Runs, Outcomes: m.outcomes}).Get(m.ctx, nil)
}

// deleteTokens deletes every token the migration minted and returns how
// many it could not; it runs even when the workflow was cancelled.
func (m *migration) deleteTokens() int {
	if len(m.st.Tokens) == 0 {
		return 0
	}
	ctx, _ := workflow.NewDisconnectedContext(m.ctx)
	err := workflow.ExecuteActivity(m.shortOptions(ctx, m.in.MintQueue), ActivityDeleteTokens, m.st.Tokens).Get(ctx, nil)
	if err != nil {
		workflow.GetLogger(m.ctx).Error("the minted upload tokens could not all be deleted; they expire by themselves", "error", err)
		return len(m.st.Tokens)
	}
	m.st.Tokens, m.st.Current = nil, ""
	return 0
}
