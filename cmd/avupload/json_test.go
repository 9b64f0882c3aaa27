package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/internal/recorded"
)

// TestJSONPrintsTheAnswerAsReceived runs each command whose --json prints an
// answer against a server that gives the recorded answers, and checks that
// standard output is the answer, byte for byte.
func TestJSONPrintsTheAnswerAsReceived(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/upload-tokens":
			_, _ = io.WriteString(w, recorded.CreateToken)
		case r.Method == http.MethodGet && r.URL.Path == "/upload-tokens":
			_, _ = io.WriteString(w, recorded.TokenList)
		case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/upload-tokens/"):
			_, _ = io.WriteString(w, recorded.TokenWithoutTTL)
		case r.Method == http.MethodPost && r.URL.Path == "/upload":
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, recorded.Video)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	video := filepath.Join(t.TempDir(), "maths.mp4")
	require.NoError(t, os.WriteFile(video, []byte("a tiny video"), 0o600))

	// The list's entries, as --all puts them together.
	entries, _, found := strings.Cut(strings.TrimPrefix(recorded.TokenList, `{"data":[`), `],"pagination"`)
	require.True(t, found)

	tests := []struct {
		name  string
		args  []string
		want  string
		field string // the key of the output that holds the answer; the whole output when empty
	}{
		{"token create", []string{"token", "create", "--ttl", "1h"}, recorded.CreateToken, ""},
		{"token get", []string{"token", "get", "to1tcmSFHeYY5KzyhOqVKMKb"}, recorded.TokenWithoutTTL, ""},
		{"token list", []string{"token", "list"}, recorded.TokenList, ""},
		{"token list --all", []string{"token", "list", "--all"}, `{"data":[` + entries + `]}`, ""},
		{"upload", []string{"upload", "--token", "to1tcmSFHeYY5KzyhOqVKMKb", video}, recorded.Video, "video"},
	}
	env := map[string]string{envAPIKey: "a-key"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append(tc.args, "--json", "--base-url", srv.URL)
			code := run(context.Background(), args, stdio{strings.NewReader(""), &stdout, &stderr}, func(k string) string { return env[k] })
			require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
			if tc.field == "" {
				assert.Equal(t, tc.want+"\n", stdout.String())
				return
			}
			var out map[string]json.RawMessage
			require.NoError(t, json.Unmarshal(stdout.Bytes(), &out))
			assert.Equal(t, tc.want, string(out[tc.field]))
		})
	}
}

// An answer is printed as received, except for the characters a terminal
// acts on, which JSON allows raw in strings (C1 controls, bidi overrides):
// those are written as \u escapes, which mean the same.
func TestJSONEscapesWhatATerminalActsOn(t *testing.T) {
	answer := "{\"token\":\"to\u009b2Jowned\u202e\",\"ttl\":0}"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, answer)
	}))
	t.Cleanup(srv.Close)
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"token", "get", "to1", "--json", "--base-url", srv.URL},
		stdio{strings.NewReader(""), &stdout, &stderr}, func(k string) string { return map[string]string{envAPIKey: "a-key"}[k] })
	require.Equal(t, exitOK, code, "stderr: %s", stderr.String())
	assert.Equal(t, `{"token":"to\u009b2Jowned\u202e","ttl":0}`+"\n", stdout.String())
}
