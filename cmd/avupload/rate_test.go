package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var rateT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// TestRateWindowSteady feeds a steady 4 MiB/s, with or without a burst at
// the start (the socket's buffers fill at once): no rate before a second
// of samples, the rate converges on the steady one once the burst is out
// of the window, and from then on the ETA shrinks as the bytes come.
func TestRateWindowSteady(t *testing.T) {
	const total = 400 << 20
	for _, burst := range []int64{0, 16 << 20} {
		t.Run(formatSize(burst)+" burst", func(t *testing.T) {
			w := newRateWindow(rateSpan, rateLeast)
			w.add(rateT0, 0)
			w.add(rateT0.Add(time.Millisecond), burst)
			n := burst
			steadyFrom := 4 // a second of samples
			if burst > 0 {
				steadyFrom = 41 // the burst left the ten seconds' window
			}
			var lastETA time.Duration
			for i := 1; i <= 80; i++ { // 20 s, a sample every 250 ms
				now := rateT0.Add(time.Millisecond + time.Duration(i)*250*time.Millisecond)
				n += 1 << 20
				w.add(now, n)
				r, ok := w.rate(now)
				if i < 4 {
					assert.False(t, ok, "sample %d: a rate from %s of samples", i, now.Sub(rateT0))
					continue
				}
				require.True(t, ok, "sample %d", i)
				d, ok := eta(total-n, r)
				require.True(t, ok, "sample %d", i)
				if i >= steadyFrom {
					assert.InDelta(t, 4<<20, r, 64<<10, "sample %d: the rate is the steady one", i)
				}
				if i > steadyFrom {
					assert.LessOrEqual(t, d, lastETA, "sample %d: the ETA grew at a steady rate", i)
				}
				lastETA = d
			}
			assert.Equal(t, (total-n)/(4<<20)*int64(time.Second), int64(lastETA), "what is left, at 4 MiB/s")
		})
	}
}

func TestRateWindowNoRateYet(t *testing.T) {
	tests := []struct {
		name string
		add  []rateSample
		now  time.Duration
	}{
		{"no sample", nil, time.Second},
		{"one sample", []rateSample{{rateT0, 5 << 20}}, 2 * time.Second},
		{"no byte moved", []rateSample{{rateT0, 0}, {rateT0.Add(3 * time.Second), 0}}, 4 * time.Second},
		{"resumed bytes, none moved", []rateSample{{rateT0, 40 << 20}, {rateT0.Add(3 * time.Second), 40 << 20}}, 4 * time.Second},
		{"samples too close", []rateSample{{rateT0, 0}, {rateT0.Add(time.Millisecond), 8 << 20}}, 5 * time.Millisecond},
		{"samples at one instant", []rateSample{{rateT0, 0}, {rateT0, 8 << 20}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newRateWindow(rateSpan, rateLeast)
			for _, s := range tt.add {
				w.add(s.t, s.n)
			}
			r, ok := w.rate(rateT0.Add(tt.now))
			assert.False(t, ok, "rate %.0f B/s", r)
		})
	}
}

// TestRateWindowStallAndDrop: a stall lowers the rate as time passes, and
// a count that falls (a failed file's bytes taken out) is not a move back.
func TestRateWindowStallAndDrop(t *testing.T) {
	w := newRateWindow(rateSpan, rateLeast)
	w.add(rateT0, 0)
	w.add(rateT0.Add(2*time.Second), 20<<20)
	r, ok := w.rate(rateT0.Add(2 * time.Second))
	require.True(t, ok)
	assert.InDelta(t, 10<<20, r, 1)
	r, ok = w.rate(rateT0.Add(4 * time.Second))
	require.True(t, ok)
	assert.InDelta(t, 5<<20, r, 1, "two seconds of stall halve the rate over four")

	w.add(rateT0.Add(4*time.Second), 5<<20) // a file failed: 15 MiB fewer
	r, ok = w.rate(rateT0.Add(4 * time.Second))
	require.True(t, ok)
	assert.InDelta(t, 5<<20, r, 1, "the drop is no move back")
	w.add(rateT0.Add(6*time.Second), 15<<20)
	r, ok = w.rate(rateT0.Add(6 * time.Second))
	require.True(t, ok)
	assert.InDelta(t, 30<<20/6, r, 1, "the bytes moved: 20 MiB, then 10 MiB")
}

func TestETA(t *testing.T) {
	tests := []struct {
		name string
		left int64
		rate float64
		want time.Duration
		ok   bool
	}{
		{"steady", 100 << 20, 10 << 20, 10 * time.Second, true},
		{"rounded", 105 << 20, 10 << 20, 11 * time.Second, true},
		{"under a second", 1, 10 << 20, time.Second, true},
		{"minutes", 600 << 20, 5 << 20, 2 * time.Minute, true},
		{"nothing left", 0, 10 << 20, 0, false},
		{"unknown total", -1, 10 << 20, 0, false},
		{"no rate", 100, 0, 0, false},
		{"a crawl", 1 << 40, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, ok := eta(tt.left, tt.rate)
			assert.Equal(t, tt.ok, ok)
			assert.Equal(t, tt.want, d)
		})
	}
}
