package sandbox

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestRedactingHandler(t *testing.T) {
	const key, token = "key-0123456789", "to1tcmSFHeYY5KzyhOqVKMKb"
	cases := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"message", func(l *slog.Logger) { l.Info("bad key " + key + " and token " + token) }},
		{"string attr", func(l *slog.Logger) { l.Info("m", "q", "token="+token) }},
		{"error attr", func(l *slog.Logger) { l.Info("m", "err", errors.New("refused "+key)) }},
		{"group", func(l *slog.Logger) { l.Info("m", slog.Group("g", "k", key)) }},
		{"with attrs", func(l *slog.Logger) { l.With("k", token).Info("m") }},
		{"with group", func(l *slog.Logger) { l.WithGroup("g").Info("m", "k", key) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			c.log(slog.New(newRedactingHandler(slog.NewTextHandler(&buf, nil), []string{key})))
			assert.NotContains(t, buf.String(), key)
			assert.NotContains(t, buf.String(), token)
			assert.Contains(t, buf.String(), redacted)
		})
	}
	assert.Equal(t, "/upload-tokens/REDACTED", redactPath("/upload-tokens/anything"))
	assert.Equal(t, "/upload-tokens", redactPath("/upload-tokens"))
	assert.Equal(t, "/upload", redactPath("/upload"))
}
