package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"52428800", 52428800},
		{"0", 0},
		{"5MiB", 5 << 20},
		{"50MiB", 50 << 20},
		{"50 MiB", 50 << 20},
		{"50mib", 50 << 20},
		{"128M", 128 << 20},
		{"512KiB", 512 << 10},
		{"512k", 512 << 10},
		{"1GiB", 1 << 30},
		{"1.5GiB", 3 << 29},
		{"100B", 100},
		{" 7MiB ", 7 << 20},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseSize(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSizeRefuses(t *testing.T) {
	for _, in := range []string{
		"", "MiB", "lots", "-1", "-5MiB", "5MB", "5 TiB", "1e3MiB", "0x10MiB", "NaNMiB", "InfMiB",
		"1.5", "9223372036854775807KiB", "99999999999999999999",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := parseSize(in)
			assert.Error(t, err)
		})
	}
}

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
	assert.Equal(t, int64(5<<20), n, "a refused value leaves the flag alone")
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"52428800", "50MiB", "1.5GiB", "5 k", "-1", "1e3MiB", "0x1p4M", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			assert.Zero(t, n, "a refused size is zero")
			return
		}
		assert.GreaterOrEqual(t, n, int64(0), "a size is never negative")
		if plain, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64); err == nil {
			assert.Equal(t, plain, n, "a plain number is a count of bytes")
		}
	})
}

func TestParseSizeSaysWhy(t *testing.T) {
	tests := map[string]string{
		"99999999999999999999":  "too large",
		"99999999999GiB":        "too large",
		"-5MiB":                 "a size cannot be negative",
		"-99999999999999999999": "a size cannot be negative",
		"5TB":                   "want a whole number of bytes, or a number with KiB, MiB or GiB, e.g. 50MiB",
	}
	for in, want := range tests {
		_, err := parseSize(in)
		require.Error(t, err, in)
		assert.Equal(t, want, err.Error(), in)
	}
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
