package main

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/wrapper"
)

// TestStampedVersion checks what --version says of the version and commit
// that make release stamps with the linker (-X main.releaseVersion=...).
func TestStampedVersion(t *testing.T) {
	tests := []struct {
		version, commit string
		want            string
		ok              bool
	}{
		{"", "", "", false},
		{"1.2.3", "", "1.2.3", true},
		{"1.2.3", "5bd2b20c1a2b3c4d5e6f", "1.2.3 (5bd2b20c1a2b)", true},
		{"1.2.3", "5bd2b20c1a2b3c4d5e6f-dirty", "1.2.3 (5bd2b20c1a2b, modified)", true},
		{"1.2.3", "abc", "1.2.3 (abc)", true},
		{"", "5bd2b20c1a2b3c4d5e6f", wrapper.Version + " (5bd2b20c1a2b)", true},
	}
	for _, tt := range tests {
		setStamp(t, tt.version, tt.commit)
		if !tt.ok {
			continue // unstamped: what the build recorded, TestBuildInfoOf
		}
		assert.Equal(t, tt.want, buildInfoOf(nil).short(), "%+v", tt)
	}
	setStamp(t, "9.8.7", "0123456789abcdef")
	cmd := newRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetArgs([]string{"--version"})
	require.NoError(t, cmd.Execute())
	assert.Equal(t, "avupload version 9.8.7 (0123456789ab)\n", out.String())
}

// setStamp sets the stamped version and commit for the test.
func setStamp(t *testing.T, version, commit string) {
	t.Helper()
	oldV, oldC := releaseVersion, releaseCommit
	t.Cleanup(func() { releaseVersion, releaseCommit = oldV, oldC })
	releaseVersion, releaseCommit = version, commit
}
