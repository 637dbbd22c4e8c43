package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// maxRelErr is the documented bound: half a bucket, a bucket being at most
// 1/histSub of its lower bound wide.
const maxRelErr = 1.0 / (2 * histSub)

// exactQuantile is the nearest-rank quantile of sorted samples, the
// definition Histogram.Quantile approximates.
func exactQuantile(sorted []time.Duration, q float64) time.Duration {
	rank := max(int(math.Ceil(q*float64(len(sorted)))), 1)
	return sorted[rank-1]
}

func TestHistogramQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name string
		n    int
		draw func() time.Duration
	}{
		{"constant 3ms", 1000, func() time.Duration { return 3 * time.Millisecond }},
		{"uniform 100µs..2s", 50000, func() time.Duration {
			return 100*time.Microsecond + time.Duration(rng.Int64N(int64(2*time.Second)))
		}},
		{"log-uniform 10µs..60s", 50000, func() time.Duration {
			return time.Duration(float64(histMin) * math.Pow(float64(histMax/histMin), rng.Float64()))
		}},
		{"exponential, mean 5ms", 50000, func() time.Duration {
			return histMin + time.Duration(rng.ExpFloat64()*float64(5*time.Millisecond))
		}},
		{"bimodal 1ms / 500ms", 10000, func() time.Duration {
			if rng.IntN(10) == 0 {
				return 500*time.Millisecond + time.Duration(rng.Int64N(int64(10*time.Millisecond)))
			}
			return time.Millisecond + time.Duration(rng.Int64N(int64(100*time.Microsecond)))
		}},
		{"log-normal around 2ms", 50000, func() time.Duration {
			return max(histMin, time.Duration(float64(2*time.Millisecond)*math.Exp(rng.NormFloat64())))
		}},
	}
	qs := []float64{0.001, 0.1, 0.5, 0.9, 0.99, 0.999}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			samples := make([]time.Duration, tt.n)
			for i := range samples {
				samples[i] = tt.draw()
				h.Record(samples[i])
			}
			slices.Sort(samples)
			if h.Count() != uint64(tt.n) || h.Min() != samples[0] || h.Max() != samples[tt.n-1] {
				t.Fatalf("count %d min %v max %v, want %d %v %v", h.Count(), h.Min(), h.Max(), tt.n, samples[0], samples[tt.n-1])
			}
			prev := time.Duration(0)
			for _, q := range qs {
				want := exactQuantile(samples, q)
				got := h.Quantile(q)
				if rel := math.Abs(float64(got-want)) / float64(want); rel > maxRelErr+1e-9 {
					t.Errorf("q%g = %v, exact %v: relative error %.4f > %.4f", q, got, want, rel, maxRelErr)
				}
				if got < prev {
					t.Errorf("q%g = %v below the previous quantile %v", q, got, prev)
				}
				prev = got
			}
			var sum time.Duration
			for _, s := range samples {
				sum += s
			}
			mean := sum / time.Duration(tt.n)
			if diff := math.Abs(float64(h.Mean() - mean)); diff > 1e-6*float64(mean)+1 {
				t.Errorf("mean %v, want %v", h.Mean(), mean)
			}
		})
	}
}

func TestHistogramBuckets(t *testing.T) {
	// Every value lies in the bucket bucketIndex names, buckets tile the
	// range without gaps, and no bucket is wider than 1/histSub of its start.
	for i := 1; i < histBuckets-1; i++ {
		lo, hi := bucketBounds(i)
		if nlo, _ := bucketBounds(i + 1); i+1 < histBuckets-1 && nlo != hi {
			t.Fatalf("bucket %d ends at %v, bucket %d starts at %v", i, hi, i+1, nlo)
		}
		if w := float64(hi - lo); w > float64(lo)/histSub+1 {
			t.Fatalf("bucket %d [%v, %v) wider than 1/%d", i, lo, hi, histSub)
		}
		for _, d := range []time.Duration{lo, lo + (hi-lo)/2, hi - 1} {
			if d >= histMax {
				continue // the overflow bucket's; the top buckets are never used
			}
			if got := bucketIndex(d); got != i {
				t.Fatalf("bucketIndex(%v) = %d, want %d [%v, %v)", d, got, i, lo, hi)
			}
		}
	}
	if lo, _ := bucketBounds(1); lo != histMin {
		t.Errorf("first bucket starts at %v, want %v", lo, histMin)
	}
	if _, hi := bucketBounds(histBuckets - 2); hi < histMax {
		t.Errorf("last regular bucket ends at %v, before %v", hi, histMax)
	}
	if i := bucketIndex(histMax - 1); i == histBuckets-1 {
		t.Errorf("bucketIndex(histMax-1) is the overflow bucket")
	} else if lo, hi := bucketBounds(i); histMax-1 < lo || histMax-1 >= hi {
		t.Errorf("bucketIndex(histMax-1) = %d [%v, %v)", i, lo, hi)
	}
	tests := []struct {
		d    time.Duration
		want int
	}{
		{-time.Second, 0},
		{0, 0},
		{histMin - 1, 0},
		{histMin, 1},
		{histMax, histBuckets - 1},
		{time.Hour, histBuckets - 1},
	}
	for _, tt := range tests {
		if got := bucketIndex(tt.d); got != tt.want {
			t.Errorf("bucketIndex(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}

func TestHistogramEdges(t *testing.T) {
	tests := []struct {
		name    string
		records []time.Duration
		q       float64
		want    time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"single value is exact", []time.Duration{1234567}, 0.5, 1234567},
		{"q0 is the exact min", []time.Duration{3 * time.Millisecond, 7 * time.Millisecond}, 0, 3 * time.Millisecond},
		{"q1 is the exact max", []time.Duration{3 * time.Millisecond, 7777777}, 1, 7777777},
		{"NaN is the min", []time.Duration{3 * time.Millisecond, 7 * time.Millisecond}, math.NaN(), 3 * time.Millisecond},
		{"underflow reads as histMin", []time.Duration{time.Microsecond, 2 * time.Microsecond, time.Second}, 0.5, histMin},
		{"underflow clamped to max", []time.Duration{time.Microsecond, 2 * time.Microsecond}, 0.5, 2 * time.Microsecond},
		{"overflow reads as the max", []time.Duration{time.Millisecond, 2 * time.Minute, 3 * time.Minute}, 0.9, 3 * time.Minute},
		{"negative counts as zero", []time.Duration{-time.Second}, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h Histogram
			for _, d := range tt.records {
				h.Record(d)
			}
			if got := h.Quantile(tt.q); got != tt.want {
				t.Errorf("Quantile(%g) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestHistogramMergeReset(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var a, b, all Histogram
	for i := range 20000 {
		d := time.Duration(rng.Int64N(int64(time.Second)))
		all.Record(d)
		if i%3 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	var empty Histogram
	a.Merge(&empty)
	empty.Merge(&a)
	empty.Merge(&b)
	if empty.counts != all.counts || empty.Count() != all.Count() || empty.Min() != all.Min() || empty.Max() != all.Max() {
		t.Fatal("merging the parts differs from recording the whole")
	}
	for _, q := range []float64{0.5, 0.99} {
		if empty.Quantile(q) != all.Quantile(q) {
			t.Errorf("q%g: merged %v, whole %v", q, empty.Quantile(q), all.Quantile(q))
		}
	}
	empty.Reset()
	if empty.Count() != 0 || empty.Quantile(0.5) != 0 || empty.Max() != 0 {
		t.Error("Reset left observations")
	}
	empty.Record(5 * time.Millisecond)
	if empty.Min() != 5*time.Millisecond {
		t.Errorf("min after reset %v", empty.Min())
	}
}
