package loadgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// Kind is the class of a generated request; reports are broken down by it.
type Kind int

// The request kinds, in report order.
const (
	KindOrder Kind = iota // POST /orders
	KindRead              // GET /inventory, /reports/summary, /orders/<id>
	KindJunk              // unknown paths and odd methods; 4xx is expected
	numKinds
)

var kindNames = [numKinds]string{"orders", "reads", "junk"}

// String returns the name used in -mix and in reports.
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "Kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// maxWeight bounds one weight so that the sum of all of them cannot overflow.
const maxWeight = 1_000_000

// Mix holds the relative weight of each kind, indexed by Kind. Weights need
// not add up to 100; a kind is drawn with probability weight/sum.
type Mix [numKinds]int

// DefaultMix returns the default weights: orders=70,reads=25,junk=5.
func DefaultMix() Mix { return Mix{KindOrder: 70, KindRead: 25, KindJunk: 5} }

// ParseMix parses "orders=70,reads=25,junk=5". Kinds left out get weight 0;
// unknown or repeated kinds, non-integer, negative or huge weights, and an
// all-zero mix are errors.
func ParseMix(s string) (Mix, error) {
	var m Mix
	if strings.TrimSpace(s) == "" {
		return Mix{}, errors.New("empty mix, want e.g. orders=70,reads=25,junk=5")
	}
	var seen [numKinds]bool
	for part := range strings.SplitSeq(s, ",") {
		name, val, ok := strings.Cut(part, "=")
		name, val = strings.TrimSpace(name), strings.TrimSpace(val)
		if !ok || name == "" {
			return Mix{}, fmt.Errorf("%q: want kind=weight", strings.TrimSpace(part))
		}
		k := Kind(-1)
		for i, n := range kindNames {
			if n == name {
				k = Kind(i)
			}
		}
		if k < 0 {
			return Mix{}, fmt.Errorf("unknown kind %q, want orders, reads or junk", name)
		}
		if seen[k] {
			return Mix{}, fmt.Errorf("kind %q given twice", name)
		}
		seen[k] = true
		w, err := strconv.Atoi(val)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return Mix{}, fmt.Errorf("weight of %s: %q is not an integer", name, val)
		}
		if err != nil || w < 0 || w > maxWeight {
			return Mix{}, fmt.Errorf("weight of %s: %s is outside 0..%d", name, val, maxWeight)
		}
		m[k] = w
	}
	if m.total() == 0 {
		return Mix{}, errors.New("all weights are zero")
	}
	return m, nil
}

// total returns the sum of the weights.
func (m Mix) total() int {
	t := 0
	for _, w := range m {
		t += w
	}
	return t
}

// pick draws a kind with probability proportional to its weight. The mix
// must have a positive total.
func (m Mix) pick(rng *rand.Rand) Kind {
	n := rng.IntN(m.total())
	for k, w := range m {
		if n < w {
			return Kind(k)
		}
		n -= w
	}
	return numKinds - 1 // unreachable with a positive total
}

// String formats m the way ParseMix reads it.
func (m Mix) String() string {
	parts := make([]string, 0, numKinds)
	for k, w := range m {
		parts = append(parts, kindNames[k]+"="+strconv.Itoa(w))
	}
	return strings.Join(parts, ",")
}

// Set implements flag.Value.
func (m *Mix) Set(s string) error {
	v, err := ParseMix(s)
	if err != nil {
		return err
	}
	*m = v
	return nil
}
