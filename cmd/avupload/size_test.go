package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{5 << 20, "5.0 MiB"},
		{300 << 20, "300.0 MiB"},
		{3 << 29, "1.5 GiB"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, formatSize(tt.in), "formatSize(%d)", tt.in)
	}
}

func TestSizeFlag(t *testing.T) {
	var n int64
	f := newSizeFlag(&n, 50<<20, "50MiB")
	assert.Equal(t, int64(50<<20), n, "the default is set at once")
	assert.Equal(t, "50MiB", f.String())
	assert.Equal(t, "size", f.Type())

	require.NoError(t, f.Set("5MiB"))
	assert.Equal(t, int64(5<<20), n)
	assert.Equal(t, "5MiB", f.String())

	assert.Error(t, f.Set("0"), "a zero size is refused")
	assert.Error(t, f.Set("soon"))
	assert.Error(t, f.Set("auto"), "auto is --chunk-size's alone")
	assert.Equal(t, int64(5<<20), n, "a refused value leaves the flag alone")

	// --chunk-size: auto (0, the library's choice) by default, and again
	// after a size.
	a := newAutoSizeFlag(&n)
	assert.Zero(t, n)
	assert.Equal(t, "auto", a.String())
	require.NoError(t, a.Set("8MiB"))
	assert.Equal(t, int64(8<<20), n)
	require.NoError(t, a.Set(" AUTO "))
	assert.Zero(t, n)
	assert.Equal(t, "auto", a.String())
	assert.Error(t, a.Set("0"), "0 is no way to say auto")
}

func TestCheckSizeRange(t *testing.T) {
	tests := []struct {
		text string
		n    int64
		want string
	}{
		{"5MiB", 5 << 20, ""},
		{"128MiB", 128 << 20, ""},
		{"5242879", 5<<20 - 1, "--chunk-size 5242879 is below the minimum of 5MiB (5242880 bytes)"},
		{"4.99999MiB", 5242869, "--chunk-size 4.99999MiB (5242869 bytes) is below the minimum of 5MiB (5242880 bytes)"},
		{"134217729", 128<<20 + 1, "--chunk-size 134217729 is above the maximum of 128MiB (134217728 bytes)"},
	}
	for _, tt := range tests {
		err := checkSizeRange("chunk-size", tt.text, tt.n, 5<<20, 128<<20)
		if tt.want == "" {
			assert.NoError(t, err, tt.text)
			continue
		}
		require.Error(t, err, tt.text)
		assert.Equal(t, tt.want, err.Error())
		assert.ErrorAs(t, err, new(usageError))
	}
}

func TestExactSize(t *testing.T) {
	assert.Equal(t, "5MiB", exactSize(5<<20))
	assert.Equal(t, "1GiB", exactSize(1<<30))
	assert.Equal(t, "1025KiB", exactSize(1025<<10))
	assert.Equal(t, "1000 B", exactSize(1000))
}
