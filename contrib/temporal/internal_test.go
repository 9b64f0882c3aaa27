package temporal

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/avupload/avupload/wrapper"
	"github.com/avupload/avupload/wrapper/batch"
)

// beatClient records heartbeats and answers them with err.
type beatClient struct {
	client.Client
	mu    sync.Mutex
	beats []Heartbeat
	err   error
}

func (c *beatClient) RecordActivityHeartbeat(_ context.Context, _ []byte, details ...any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	hb := details[0].(Heartbeat)
	hb.State = hb.State.Clone()
	c.beats = append(c.beats, hb)
	return c.err
}

func TestHeartbeatStore(t *testing.T) {
	state := &wrapper.UploadState{Version: 4, VideoID: "vi1", Acked: []wrapper.AckedChunk{{Index: 0, Size: 5}}}
	tests := []struct {
		name    string
		err     error
		wantErr string // "" when Save succeeds
		stops   bool   // the upload is stopped
	}{
		{name: "recorded", err: nil},
		{name: "attempt given to another worker", err: serviceerror.NewNotFound("no such activity"), wantErr: "given to another worker", stops: true},
		{name: "cancelled", err: temporal.NewCanceledError(), wantErr: "cancelled", stops: true},
		{name: "server unreachable", err: errors.New("connection refused"), wantErr: "recording the upload's progress"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &beatClient{err: tt.err}
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			s := &heartbeatStore{key: "k", c: c, ctx: context.Background(), stop: cancel}
			s.progress(wrapper.UploadProgress{Acked: 5, Sent: 10, Total: 20})
			err := s.Save(ctx, "k", state)
			if tt.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, tt.wantErr)
			}
			// The heartbeat went before Save returned, with the state and
			// the progress.
			require.Len(t, c.beats, 1)
			assert.Equal(t, state, c.beats[0].State)
			assert.Equal(t, int64(5), c.beats[0].Acked)
			assert.Equal(t, tt.stops, ctx.Err() != nil, "the upload is stopped")
			if tt.stops {
				// Dead for good: nothing more is sent.
				require.Error(t, s.Save(ctx, "k", state))
				assert.Len(t, c.beats, 1)
			}
			got, err := s.Load(ctx, "k")
			require.NoError(t, err)
			assert.Equal(t, state, got)
			other, err := s.Load(ctx, "another upload")
			require.NoError(t, err)
			assert.Nil(t, other)
		})
	}
}

func TestHeartbeatStoreDelete(t *testing.T) {
	c := &beatClient{}
	s := &heartbeatStore{key: "k", c: c, ctx: context.Background(), stop: func(error) {}}
	ctx := context.Background()
	require.NoError(t, s.Save(ctx, "k", &wrapper.UploadState{VideoID: "vi1"}))
	require.NoError(t, s.Delete(ctx, "k"))
	require.Len(t, c.beats, 2)
	assert.Nil(t, c.beats[1].State, "the next attempt starts over")
	got, err := s.Load(ctx, "k")
	require.NoError(t, err)
	assert.Nil(t, got)
	require.Error(t, s.Save(ctx, "other", &wrapper.UploadState{}), "one upload per store")
}

// TestClassify uploads to servers that answer each status, and checks
// which failures the activity retries and which it gives up on at once.
func TestClassify(t *testing.T) {
	file := filepath.Join(t.TempDir(), "v.mp4")
	require.NoError(t, os.WriteFile(file, []byte("not much of a video"), 0o644))
	tests := []struct {
		status    int
		body      string
		wantType  string // "" for an error Temporal retries
		withState bool
	}{
		{status: 401, body: `{"type":"https://docs.api.video/reference/invalid-upload-token","title":"The upload token is invalid or expired.","name":"token","status":401}`, wantType: ErrTokenRefused, withState: true},
		{status: 400, body: `{"type":"https://docs.api.video/reference/invalid-file","title":"The uploaded file is invalid.","status":400}`, wantType: ErrRefused},
		{status: 403, body: `{"type":"https://docs.api.video/reference/suspended","title":"Suspended account","status":403}`, wantType: ErrRefused},
		{status: 503, body: `{"title":"unavailable","status":503}`},
		{status: 429, body: `{"type":"https://docs.api.video/reference/too-many-requests","title":"Too many requests.","status":429}`},
		// A 200 that is no video: a proxy's page. Not an acknowledgement;
		// retried.
		{status: 200, body: `<html>captive portal</html>`},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if strings.HasPrefix(tt.body, "{") {
					w.Header().Set("Content-Type", "application/problem+json")
				} else {
					w.Header().Set("Content-Type", "text/html")
				}
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c, err := wrapper.New(wrapper.WithBaseURL(srv.URL), wrapper.WithoutRetries())
			require.NoError(t, err)
			_, err = c.Upload(context.Background(), "to-secret-token", wrapper.File(file), nil)
			require.Error(t, err)
			hb := Heartbeat{State: &wrapper.UploadState{VideoID: "vi1"}}
			got := classify(err, hb)
			assert.NotContains(t, got.Error(), "to-secret-token")
			var appErr *temporal.ApplicationError
			if tt.wantType == "" {
				assert.False(t, errors.As(got, &appErr) && appErr.NonRetryable(), "retried: %v", got)
				return
			}
			require.ErrorAs(t, got, &appErr)
			assert.Equal(t, tt.wantType, appErr.Type())
			assert.True(t, appErr.NonRetryable())
			if tt.withState {
				var back Heartbeat
				require.NoError(t, appErr.Details(&back))
				assert.Equal(t, "vi1", back.State.VideoID)
			}
		})
	}
	missing := classify(func() error {
		c, err := wrapper.New(wrapper.WithBaseURL("http://127.0.0.1:1"))
		require.NoError(t, err)
		_, err = c.Upload(context.Background(), "tok", wrapper.File(filepath.Join(t.TempDir(), "gone.mp4")), nil)
		return err
	}(), Heartbeat{})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, missing, &appErr)
	assert.Equal(t, ErrSourceUnreadable, appErr.Type())
}

func TestManifest(t *testing.T) {
	root := t.TempDir()
	for _, name := range []string{"lib/a.mp4", "lib/b.tmp", "lib/sub/c.mp4", "other/d.mp4"} {
		p := filepath.Join(root, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(name), 0o644))
	}
	var buf bytes.Buffer
	n, err := WriteManifest(&buf, root, "lib", batch.PlanOptions{Exclude: []string{"*.tmp"}})
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	assert.Equal(t, "{\"path\":\"lib/a.mp4\",\"size\":9}\n{\"path\":\"lib/sub/c.mp4\",\"size\":13}\n", buf.String())
	_, err = WriteManifest(&buf, root, "../elsewhere", batch.PlanOptions{})
	require.Error(t, err)

	var lines strings.Builder
	for i := range 7 {
		lines.WriteString(`{"path":"lib/f` + string(rune('0'+i)) + `.mp4","size":` + string(rune('1'+i)) + "}\n")
		if i == 3 {
			lines.WriteString("\n") // blank lines are skipped
		}
	}
	require.NoError(t, os.WriteFile(filepath.Join(root, "m.jsonl"), []byte(lines.String()), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(root, "bad.jsonl"), []byte("{\"path\":\"a\",\"size\":1}\nnot json\n"), 0o644))
	u := &Uploader{Root: root}
	ctx := context.Background()
	tests := []struct {
		name      string
		in        ReadManifestInput
		wantPaths []string
		wantFiles int
		wantBytes int64
		wantType  string
	}{
		{name: "first page, counted", in: ReadManifestInput{Path: "m.jsonl", Limit: 3, Count: true},
			wantPaths: []string{"lib/f0.mp4", "lib/f1.mp4", "lib/f2.mp4"}, wantFiles: 7, wantBytes: 28},
		{name: "middle page across a blank line", in: ReadManifestInput{Path: "m.jsonl", Offset: 3, Limit: 3},
			wantPaths: []string{"lib/f3.mp4", "lib/f4.mp4", "lib/f5.mp4"}},
		{name: "last page, short", in: ReadManifestInput{Path: "m.jsonl", Offset: 6, Limit: 3}, wantPaths: []string{"lib/f6.mp4"}},
		{name: "past the end", in: ReadManifestInput{Path: "m.jsonl", Offset: 9, Limit: 3}, wantPaths: []string{}},
		{name: "bad line", in: ReadManifestInput{Path: "bad.jsonl", Limit: 5}, wantType: ErrSourceUnreadable},
		{name: "missing", in: ReadManifestInput{Path: "none.jsonl", Limit: 5}, wantType: ErrSourceUnreadable},
		{name: "outside the root", in: ReadManifestInput{Path: "../m.jsonl", Limit: 5}, wantType: ErrSourceUnreadable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := u.ReadManifest(ctx, tt.in)
			if tt.wantType != "" {
				var appErr *temporal.ApplicationError
				require.ErrorAs(t, err, &appErr)
				assert.Equal(t, tt.wantType, appErr.Type())
				return
			}
			require.NoError(t, err)
			var paths []string
			for _, f := range page.Files {
				paths = append(paths, f.Path)
			}
			if paths == nil {
				paths = []string{}
			}
			assert.Equal(t, tt.wantPaths, paths)
			assert.Equal(t, tt.wantFiles, page.TotalFiles)
			assert.Equal(t, tt.wantBytes, page.TotalBytes)
		})
	}

	require.NoError(t, u.WriteOutcomes(ctx, WriteOutcomesInput{Dir: "out", Run: 2, Outcomes: []Outcome{{Path: "lib/a.mp4", OK: true}}}))
	b, err := os.ReadFile(filepath.Join(root, "out", "outcomes-000002.jsonl"))
	require.NoError(t, err)
	assert.Equal(t, "{\"path\":\"lib/a.mp4\",\"index\":0,\"ok\":true,\"size\":0}\n", string(b))
	require.Error(t, u.WriteOutcomes(ctx, WriteOutcomesInput{Dir: "/abs", Run: 1}))
}

func TestMigrateInputValidate(t *testing.T) {
	tests := []struct {
		name string
		in   MigrateInput
		ok   bool
	}{
		{name: "defaults", in: MigrateInput{Files: []File{{Path: "a", Size: 1}}}, ok: true},
		{name: "both manifests", in: MigrateInput{Files: []File{{Path: "a"}}, Manifest: "m.jsonl"}},
		{name: "ttl not whole seconds", in: MigrateInput{TokenTTL: 1500 * time.Millisecond}},
		{name: "renewal longer than the ttl", in: MigrateInput{TokenTTL: time.Minute, RenewBefore: time.Minute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			in.defaults()
			assert.Equal(t, tt.ok, in.validate() == nil)
		})
	}
}
