package apitime_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/avupload/avupload/apitime"
)

func TestMarshalWritesTheAPIForm(t *testing.T) {
	tests := []struct {
		name string
		in   time.Time
		want string
	}{
		{"UTC gets +00:00, not Z", time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC), `"2020-12-02T10:13:19+00:00"`},
		{"an offset is kept", time.Date(2020, 12, 2, 11, 13, 19, 0, time.FixedZone("", 3600)), `"2020-12-02T11:13:19+01:00"`},
		{"a negative offset", time.Date(2020, 12, 2, 5, 13, 19, 0, time.FixedZone("", -5*3600-30*60)), `"2020-12-02T05:13:19-05:30"`},
		{"a fraction is kept", time.Date(2020, 12, 2, 10, 13, 19, 500_000_000, time.UTC), `"2020-12-02T10:13:19.5+00:00"`},
		{"the zero time", time.Time{}, `"0001-01-01T00:00:00+00:00"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(apitime.New(tc.in))
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(b))
			text, err := apitime.New(tc.in).MarshalText()
			require.NoError(t, err)
			assert.Equal(t, tc.want[1:len(tc.want)-1], string(text))
			assert.Equal(t, tc.want[1:len(tc.want)-1], apitime.New(tc.in).String())
		})
	}
}

func TestMarshalRefusesYearsRFC3339CannotHold(t *testing.T) {
	for _, y := range []int{-1, 10000} {
		_, err := json.Marshal(apitime.New(time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC)))
		assert.Error(t, err, "year %d", y)
	}
}

func TestUnmarshalReadsRFC3339(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		back string // what Marshal writes again
	}{
		{`"2020-12-02T10:13:19+00:00"`, time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC), `"2020-12-02T10:13:19+00:00"`},
		{`"2020-12-02T10:13:19Z"`, time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC), `"2020-12-02T10:13:19+00:00"`},
		{`"2020-12-02T12:13:19+02:00"`, time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC), `"2020-12-02T12:13:19+02:00"`},
		{`"2020-12-02T10:13:19.25+00:00"`, time.Date(2020, 12, 2, 10, 13, 19, 250_000_000, time.UTC), `"2020-12-02T10:13:19.25+00:00"`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var got apitime.Time
			require.NoError(t, json.Unmarshal([]byte(tc.in), &got))
			assert.True(t, tc.want.Equal(got.Time), "got %s", got)
			b, err := json.Marshal(got)
			require.NoError(t, err)
			assert.Equal(t, tc.back, string(b))
		})
	}
}

func TestUnmarshalNullLeavesTheTime(t *testing.T) {
	was := apitime.New(time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC))
	got := was
	require.NoError(t, json.Unmarshal([]byte(`null`), &got))
	assert.Equal(t, was, got)

	var p *apitime.Time
	require.NoError(t, json.Unmarshal([]byte(`null`), &p))
	assert.Nil(t, p)
}

func TestUnmarshalRefusesWhatIsNotATimestamp(t *testing.T) {
	for _, in := range []string{
		`""`, `"2020-12-02"`, `"2020-12-02 10:13:19+00:00"`, `"2020-12-02T10:13:19"`,
		`"2020-12-02T10:13:19+0000"`, `"2020-13-02T10:13:19+00:00"`, `1606904000`, `true`, `{}`,
	} {
		var got apitime.Time
		assert.Error(t, json.Unmarshal([]byte(in), &got), in)
	}
}

func TestPtr(t *testing.T) {
	now := time.Date(2020, 12, 2, 10, 13, 19, 0, time.UTC)
	p := apitime.Ptr(now)
	require.NotNil(t, p)
	assert.True(t, now.Equal(p.Time))
}

// FuzzUnmarshal checks that whatever Time reads, it writes in a form it reads
// back as the same instant and offset, and writes again byte for byte.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{
		`"2020-12-02T10:13:19+00:00"`, `"2020-12-02T10:13:19Z"`, `"2020-12-02T10:13:19.123456789-07:00"`,
		`"9999-12-31T23:59:59+23:59"`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var first apitime.Time
		if json.Unmarshal(in, &first) != nil {
			return
		}
		out, err := json.Marshal(first)
		if err != nil {
			return // a year RFC 3339 cannot hold, which time.Parse may accept with an offset
		}
		var second apitime.Time
		require.NoError(t, json.Unmarshal(out, &second), "reading back %s", out)
		require.True(t, first.Equal(second.Time), "%s read back as %s", out, second)
		_, off1 := first.Zone()
		_, off2 := second.Zone()
		require.Equal(t, off1, off2, "offset of %s", out)
		again, err := json.Marshal(second)
		require.NoError(t, err)
		require.Equal(t, string(out), string(again))
	})
}
