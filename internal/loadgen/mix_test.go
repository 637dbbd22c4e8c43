package loadgen

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestParseMix(t *testing.T) {
	tests := []struct {
		in     string
		want   Mix
		errSub string // "" = valid
	}{
		{"orders=70,reads=25,junk=5", Mix{70, 25, 5}, ""},
		{" junk = 1 , orders=3 ", Mix{3, 0, 1}, ""},
		{"reads=1", Mix{0, 1, 0}, ""},
		{"orders=0,reads=0,junk=1", Mix{0, 0, 1}, ""},
		{"orders=1000000", Mix{1000000, 0, 0}, ""},
		{"", Mix{}, "empty"},
		{"   ", Mix{}, "empty"},
		{"orders", Mix{}, "want kind=weight"},
		{"=5", Mix{}, "want kind=weight"},
		{"orders=70,,junk=5", Mix{}, "want kind=weight"},
		{"orders=70,", Mix{}, "want kind=weight"},
		{"writes=5", Mix{}, "unknown kind"},
		{"Orders=5", Mix{}, "unknown kind"},
		{"orders=1,orders=2", Mix{}, "twice"},
		{"orders=x", Mix{}, "not an integer"},
		{"orders=1.5", Mix{}, "not an integer"},
		{"orders=", Mix{}, "not an integer"},
		{"orders=-1", Mix{}, "outside"},
		{"orders=1000001", Mix{}, "outside"},
		{"orders=99999999999999999999", Mix{}, "outside"},
		{"orders=0,reads=0", Mix{}, "all weights are zero"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseMix(tt.in)
			if tt.errSub != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSub) {
					t.Fatalf("ParseMix(%q) = %v, %v; want an error about %q", tt.in, got, err, tt.errSub)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseMix(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
			// String round-trips.
			if again, err := ParseMix(got.String()); err != nil || again != got {
				t.Fatalf("ParseMix(%q) = %v, %v; want %v", got.String(), again, err, got)
			}
		})
	}
}

func TestMixSet(t *testing.T) {
	m := DefaultMix()
	if err := m.Set("bogus"); err == nil || m != DefaultMix() {
		t.Fatalf("Set(bogus) = %v, mix now %v; want an error and no change", err, m)
	}
	if err := m.Set("junk=2"); err != nil || m != (Mix{0, 0, 2}) {
		t.Fatalf("Set(junk=2) = %v, mix now %v", err, m)
	}
}

func TestMixPick(t *testing.T) {
	tests := []struct {
		mix Mix
	}{
		{Mix{70, 25, 5}},
		{Mix{0, 1, 0}},
		{Mix{1, 0, 1}},
		{Mix{0, 0, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.mix.String(), func(t *testing.T) {
			const n = 20000
			rng := rand.New(rand.NewPCG(5, 6))
			var got [numKinds]int
			for range n {
				got[tt.mix.pick(rng)]++
			}
			for k, w := range tt.mix {
				want := n * w / tt.mix.total()
				if w == 0 && got[k] != 0 {
					t.Errorf("%v has weight 0 but was picked %d times", Kind(k), got[k])
				}
				// 5 standard deviations of a binomial at most 0.5·√n ≈ 71.
				if diff := got[k] - want; diff > 360 || diff < -360 {
					t.Errorf("%v picked %d times, want about %d", Kind(k), got[k], want)
				}
			}
		})
	}
}

func TestKindString(t *testing.T) {
	tests := map[Kind]string{KindOrder: "orders", KindRead: "reads", KindJunk: "junk", Kind(7): "Kind(7)", Kind(-1): "Kind(-1)"}
	for k, want := range tests {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(k), got, want)
		}
	}
}
