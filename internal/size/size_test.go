package size

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
		// MB, GB and KB are binary too: the one grammar of sizes.
		{"5MB", 5 << 20},
		{"5mb", 5 << 20},
		{"10 MB", 10 << 20},
		{"2GB", 2 << 30},
		{"1.5GB", 3 << 29},
		{"512KB", 512 << 10},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParseSizeRefuses(t *testing.T) {
	for _, in := range []string{
		"", "MiB", "lots", "-1", "-5MiB", "5TB", "5 TiB", "MB", "5MBB", "-5MB", "1e3MiB", "0x10MiB", "NaNMiB", "InfMiB",
		"1.5", "9223372036854775807KiB", "99999999999999999999",
	} {
		t.Run(in, func(t *testing.T) {
			_, err := Parse(in)
			assert.Error(t, err)
		})
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"52428800", "50MiB", "1.5GiB", "5 k", "-1", "1e3MiB", "0x1p4M", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
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
		_, err := Parse(in)
		require.Error(t, err, in)
		assert.Equal(t, want, err.Error(), in)
	}
}
