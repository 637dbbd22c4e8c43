package loadgen

import (
	"math"
	"time"
)

// Why a fixed-bucket histogram: a run at 20k req/s for an hour yields 72M
// samples; keeping them to sort for exact percentiles would take ~580 MB and
// make every progress line cost O(n log n). A log-linear histogram (the
// scheme HdrHistogram uses) has a fixed size, O(1) recording, and cheap
// merge and reset, and its error is bounded *relative* to the value at every
// magnitude — what matters for latency, where 10µs is a lot at 50µs and
// nothing at 2s. Each doubling from histMin up to histMax is split into
// histSub equal sub-buckets, so a bucket is at most 1/histSub of its lower
// bound wide and its midpoint is within 1/(2·histSub) ≈ 0.8% of any value in
// it. 23 doublings × 64 sub-buckets ≈ 1.5k counters (12 KiB) cover 10µs..60s;
// values outside land in an underflow or overflow bucket, and the exact
// minimum and maximum are kept on the side.
const (
	histMin        = 10 * time.Microsecond
	histMax        = 60 * time.Second
	histSub        = 64
	histMagnitudes = 23 // ceil(log2(histMax/histMin)) = ceil(log2(6e6))
	histBuckets    = 1 + histMagnitudes*histSub + 1
)

// Histogram records durations in log-linear buckets from 10µs to 60s, each
// at most 1/64 of its lower bound wide.
// The zero value is empty and ready to use. It is not safe for concurrent
// use; callers serialise access.
type Histogram struct {
	counts [histBuckets]uint64
	total  uint64
	min    time.Duration
	max    time.Duration
	sum    float64 // seconds; a float cannot overflow the way int64 ns would
}

// bucketIndex returns the bucket d falls in: 0 below histMin, the last one
// at or above histMax, otherwise 1 + magnitude·histSub + sub-bucket.
func bucketIndex(d time.Duration) int {
	if d < histMin {
		return 0
	}
	if d >= histMax {
		return histBuckets - 1
	}
	// d/histMin = frac·2^exp with frac in [0.5, 1): the magnitude is exp-1
	// and 2·frac in [1, 2) is the position inside that doubling.
	frac, exp := math.Frexp(float64(d) / float64(histMin))
	i := 1 + (exp-1)*histSub + int((2*frac-1)*histSub)
	return min(max(i, 1), histBuckets-2) // guard against float rounding
}

// bucketBounds returns the half-open range [lo, hi) of bucket i.
func bucketBounds(i int) (lo, hi time.Duration) {
	switch {
	case i <= 0:
		return 0, histMin
	case i >= histBuckets-1:
		return histMax, math.MaxInt64
	}
	// Rounded up: the bounds are the smallest whole nanoseconds in the
	// bucket and the next one, as bucketIndex sees them.
	m, sub := (i-1)/histSub, (i-1)%histSub
	base := float64(histMin) * math.Ldexp(1, m)
	lo = time.Duration(math.Ceil(base * (1 + float64(sub)/histSub)))
	hi = time.Duration(math.Ceil(base * (1 + float64(sub+1)/histSub)))
	return lo, hi
}

// Record adds one observation. Negative durations count as zero.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	if h.total == 0 || d < h.min {
		h.min = d
	}
	if d > h.max {
		h.max = d
	}
	h.counts[bucketIndex(d)]++
	h.total++
	h.sum += d.Seconds()
}

// Count returns the number of observations.
func (h *Histogram) Count() uint64 { return h.total }

// Min returns the smallest observation, or 0 when empty.
func (h *Histogram) Min() time.Duration { return h.min }

// Max returns the largest observation, or 0 when empty.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean returns the average observation, or 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.total == 0 {
		return 0
	}
	return time.Duration(h.sum / float64(h.total) * float64(time.Second))
}

// Quantile returns the q-quantile (0 ≤ q ≤ 1) by the nearest-rank method:
// the value of the ceil(q·n)-th smallest observation, as the midpoint of its
// bucket clamped to the observed [min, max]. q ≤ 0 gives the minimum and
// q ≥ 1 the maximum, both exact. Values below 10µs are reported as
// 10µs (or the maximum, if smaller), values above 60s as the maximum.
// An empty histogram returns 0.
func (h *Histogram) Quantile(q float64) time.Duration {
	switch {
	case h.total == 0:
		return 0
	case q <= 0 || math.IsNaN(q):
		return h.min
	case q >= 1:
		return h.max
	}
	rank := max(uint64(math.Ceil(q*float64(h.total))), 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen < rank {
			continue
		}
		var v time.Duration
		switch i {
		case 0:
			v = histMin
		case histBuckets - 1:
			v = h.max
		default:
			lo, hi := bucketBounds(i)
			v = lo + (hi-lo)/2
		}
		return min(max(v, h.min), h.max)
	}
	return h.max
}

// Merge adds every observation of o to h.
func (h *Histogram) Merge(o *Histogram) {
	if o.total == 0 {
		return
	}
	if h.total == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }
