package main

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestResolveShard checks what --shard K/N, auto/N and auto take from the
// environment of Kubernetes and AWS Batch, and the errors that say why not.
func TestResolveShard(t *testing.T) {
	tests := []struct {
		name    string
		flag    string
		env     map[string]string
		k, n    int
		from    string
		wantErr []string // substrings of the error, all of them
	}{
		{name: "fixed", flag: "3/8", k: 3, n: 8},
		{name: "fixed ignores the platform", flag: "3/8", env: map[string]string{envK8sIndex: "0"}, k: 3, n: 8},
		{name: "fixed bad", flag: "3/2", wantErr: []string{`--shard "3/2": want K/N`, "auto/N"}},
		{name: "kubernetes first", flag: "auto/8", env: map[string]string{envK8sIndex: "0"}, k: 1, n: 8, from: "JOB_COMPLETION_INDEX=0"},
		{name: "kubernetes last", flag: "auto/8", env: map[string]string{envK8sIndex: "7"}, k: 8, n: 8, from: "JOB_COMPLETION_INDEX=7"},
		{name: "kubernetes spaces", flag: "auto/8", env: map[string]string{envK8sIndex: " 2\n"}, k: 3, n: 8, from: "JOB_COMPLETION_INDEX=2"},
		{name: "aws index", flag: "auto/4", env: map[string]string{envAWSIndex: "1"}, k: 2, n: 4, from: "AWS_BATCH_JOB_ARRAY_INDEX=1"},
		{name: "aws index and size", flag: "auto", env: map[string]string{envAWSIndex: "9", envAWSSize: "10"}, k: 10, n: 10,
			from: "AWS_BATCH_JOB_ARRAY_INDEX=9 and AWS_BATCH_JOB_ARRAY_SIZE=10"},
		{name: "aws size agrees with N", flag: "auto/10", env: map[string]string{envAWSIndex: "0", envAWSSize: "10"}, k: 1, n: 10,
			from: "AWS_BATCH_JOB_ARRAY_INDEX=0"},
		{name: "both agree", flag: "auto/3", env: map[string]string{envK8sIndex: "2", envAWSIndex: "2"}, k: 3, n: 3, from: "JOB_COMPLETION_INDEX=2"},
		{name: "neither", flag: "auto/8", wantErr: []string{"--shard auto/8", "JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX", "neither is set", "--shard K/N"}},
		{name: "neither, empty", flag: "auto/8", env: map[string]string{envK8sIndex: "", envAWSIndex: " "}, wantErr: []string{"neither is set"}},
		{name: "neither for auto", flag: "auto", wantErr: []string{"--shard auto takes", "neither is set"}},
		{name: "auto on kubernetes", flag: "auto", env: map[string]string{envK8sIndex: "1"},
			wantErr: []string{"--shard auto:", "JOB_COMPLETION_INDEX gives this worker's index", "Job's completions", "--shard auto/N"}},
		{name: "out of range", flag: "auto/8", env: map[string]string{envK8sIndex: "8"},
			wantErr: []string{"--shard auto/8", "JOB_COMPLETION_INDEX=8 is out of range", "from 0 to 7"}},
		{name: "out of range aws", flag: "auto", env: map[string]string{envAWSIndex: "4", envAWSSize: "4"},
			wantErr: []string{"AWS_BATCH_JOB_ARRAY_INDEX=4 and AWS_BATCH_JOB_ARRAY_SIZE=4 is out of range", "from 0 to 3"}},
		{name: "disagree", flag: "auto/8", env: map[string]string{envK8sIndex: "1", envAWSIndex: "2"},
			wantErr: []string{"JOB_COMPLETION_INDEX=1 and AWS_BATCH_JOB_ARRAY_INDEX=2 disagree"}},
		{name: "size disagrees with N", flag: "auto/8", env: map[string]string{envAWSIndex: "1", envAWSSize: "10"},
			wantErr: []string{"--shard auto/8, but AWS_BATCH_JOB_ARRAY_SIZE=10", "--shard auto/10"}},
		{name: "index not a number", flag: "auto/8", env: map[string]string{envK8sIndex: "two"},
			wantErr: []string{`JOB_COMPLETION_INDEX="two" is not a whole number from 0`}},
		{name: "index negative", flag: "auto/8", env: map[string]string{envAWSIndex: "-1"},
			wantErr: []string{`AWS_BATCH_JOB_ARRAY_INDEX="-1" is not a whole number`}},
		{name: "index with a sign", flag: "auto/8", env: map[string]string{envK8sIndex: "+1"}, wantErr: []string{`JOB_COMPLETION_INDEX="+1"`}},
		{name: "index with controls", flag: "auto/8", env: map[string]string{envK8sIndex: "1\x1b[2J"}, wantErr: []string{`JOB_COMPLETION_INDEX="1\x1b[2J"`}},
		{name: "size zero", flag: "auto", env: map[string]string{envAWSIndex: "0", envAWSSize: "0"},
			wantErr: []string{`AWS_BATCH_JOB_ARRAY_SIZE="0" is not a whole number from 1`}},
		{name: "auto N zero", flag: "auto/0", env: map[string]string{envK8sIndex: "0"}, wantErr: []string{`--shard "auto/0"`, "auto/N"}},
		{name: "auto N junk", flag: "auto/8x", env: map[string]string{envK8sIndex: "0"}, wantErr: []string{`--shard "auto/8x"`}},
		{name: "auto N empty", flag: "auto/", env: map[string]string{envK8sIndex: "0"}, wantErr: []string{`--shard "auto/":`}},
		{name: "auto/N with a control", flag: "auto/\x1b", env: map[string]string{envK8sIndex: "0"}, wantErr: []string{`--shard "auto/\x1b"`}},
		{name: "auto K", flag: "auto/auto", env: map[string]string{envAWSIndex: "0", envAWSSize: "1"}, wantErr: []string{`--shard "auto/auto"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, n, from, err := resolveShard(tt.flag, func(name string) string { return tt.env[name] })
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				assert.True(t, errors.As(err, new(usageError)), "a usage error, exit 2")
				for _, w := range tt.wantErr {
					assert.Contains(t, err.Error(), w)
				}
				assert.NotContains(t, err.Error(), "\x1b", "no control character reaches the terminal")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, [2]int{tt.k, tt.n}, [2]int{k, n})
			assert.Equal(t, tt.from, from)
		})
	}
}

// TestShardAutoSharesOnce checks that N workers given --shard auto/N and
// the indexes 0 to N-1 take the shares 1/N to N/N, each once.
func TestShardAutoSharesOnce(t *testing.T) {
	for _, name := range []string{envK8sIndex, envAWSIndex} {
		seen := map[int]bool{}
		for i := range 5 {
			k, n, _, err := resolveShard("auto/5", func(v string) string {
				if v == name {
					return []string{"0", "1", "2", "3", "4"}[i]
				}
				return ""
			})
			require.NoError(t, err)
			assert.Equal(t, 5, n)
			assert.False(t, seen[k], "share %d taken twice", k)
			seen[k] = true
		}
		assert.Len(t, seen, 5, name)
	}
}

// TestResolveShardSays checks the line that says which share auto took,
// and that the flag then reads as the K/N the plan uses.
func TestResolveShardSays(t *testing.T) {
	var w bytes.Buffer
	b := &batchFlags{shard: "auto/8", getenv: func(v string) string { return map[string]string{envK8sIndex: "2"}[v] }}
	require.NoError(t, b.resolveShard(&w, false))
	assert.Equal(t, "avupload: --shard auto/8 is shard 3/8: JOB_COMPLETION_INDEX=2 (indexes count from 0)\n", w.String())
	assert.Equal(t, "3/8", b.shard)

	w.Reset()
	b = &batchFlags{shard: "auto/8", getenv: func(v string) string { return map[string]string{envK8sIndex: "2"}[v] }}
	require.NoError(t, b.resolveShard(&w, true))
	assert.Empty(t, w.String(), "-q")

	b = &batchFlags{shard: "2/8"}
	require.NoError(t, b.resolveShard(&w, false))
	assert.Empty(t, w.String(), "K/N as given says nothing")
	assert.Equal(t, "2/8", b.shard)
}
