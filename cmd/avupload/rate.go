package main

import (
	"time"
)

// rateWindow estimates a transfer's rate from the counts of the last span
// of time: a rate that follows the transfer as it speeds up or slows down,
// and an ETA that converges on the time left. The zero value is not ready:
// use newRateWindow. It is not safe for concurrent use.
type rateWindow struct {
	span    time.Duration // how far back the rate looks
	least   time.Duration // the least time the samples must cover to give a rate
	samples []rateSample  // oldest first
	moved   bool          // the count went up at least once
}

type rateSample struct {
	t time.Time
	n int64
}

// rateSpan is how far back the progress display's rate looks, and
// rateLeast the least time its samples must cover: a shorter time gives
// the rate of a burst into the socket's buffers, not the transfer's.
const (
	rateSpan  = 10 * time.Second
	rateLeast = time.Second
)

func newRateWindow(span, least time.Duration) *rateWindow {
	return &rateWindow{span: span, least: least}
}

// add records that n bytes had moved by t. A count below the last one (a
// failed file's bytes taken out of the count) is not a move back: the
// window's earlier samples are lowered by as much, so that the rate counts
// only the bytes that moved. A time before the last sample's is taken as
// the last sample's.
func (w *rateWindow) add(t time.Time, n int64) {
	if k := len(w.samples); k > 0 {
		last := w.samples[k-1]
		if t.Before(last.t) {
			t = last.t
		}
		if drop := last.n - n; drop > 0 {
			for i := range w.samples {
				w.samples[i].n -= drop
			}
		}
		if n > w.samples[k-1].n {
			w.moved = true
		}
	}
	w.samples = append(w.samples, rateSample{t, n})
	// Keep one sample at or before the window's start, so that the
	// window spans rateSpan once the transfer has lasted that long.
	i := 0
	for i+1 < len(w.samples) && !w.samples[i+1].t.After(t.Add(-w.span)) {
		i++
	}
	if i > 0 {
		w.samples = append(w.samples[:0], w.samples[i:]...)
	}
}

// rate returns the bytes per second over the window as seen at now (a
// stall lowers it as time passes), and false while there is none: fewer
// than two samples, samples over less than the least time, or no byte
// moved yet.
func (w *rateWindow) rate(now time.Time) (float64, bool) {
	if len(w.samples) < 2 || !w.moved {
		return 0, false
	}
	first, last := w.samples[0], w.samples[len(w.samples)-1]
	if now.Before(last.t) {
		now = last.t
	}
	elapsed := now.Sub(first.t)
	if last.t.Sub(first.t) < w.least || elapsed <= 0 {
		return 0, false
	}
	return float64(last.n-first.n) / elapsed.Seconds(), true
}

// eta returns the time the bytes left take at rate bytes per second,
// rounded to the second and at least a second; false when it cannot be
// told: no rate, or nothing left (or a total unknown: left < 0).
func eta(left int64, rate float64) (time.Duration, bool) {
	if left <= 0 || rate <= 0 {
		return 0, false
	}
	secs := float64(left) / rate
	if secs > float64(1000*time.Hour/time.Second) {
		return 0, false // a rate so low the time means nothing
	}
	return max(time.Duration(secs*float64(time.Second)).Round(time.Second), time.Second), true
}
