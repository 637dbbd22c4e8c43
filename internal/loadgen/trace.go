package loadgen

import (
	"encoding/binary"
	"encoding/hex"
	"math/rand/v2"
	"strconv"
)

// TraceMode selects the W3C Trace Context traceparent header a run sends
// on each request (SPEC §11: the service continues the caller's trace).
// The zero value, TraceUnsampled, sends one.
type TraceMode int

// The trace modes.
const (
	// TraceUnsampled, the default, sends "00-<trace-id>-<parent-id>-00": a
	// fresh random trace id and parent id per request, sampled flag off.
	// The service's spans and logs then carry a trace id no other request
	// has, and whether it records the spans stays its own sampler's
	// choice (a parentbased_* sampler records none of them).
	TraceUnsampled TraceMode = iota
	// TraceSampled sends flags 01 instead, asking for the request to be
	// traced: a service with a parentbased_* sampler records every one.
	TraceSampled
	// TraceOff sends no traceparent.
	TraceOff
	numTraceModes
)

var traceModeNames = [numTraceModes]string{"unsampled", "sampled", "off"}

// String returns the name of m, as the report shows it.
func (m TraceMode) String() string {
	if m < 0 || m >= numTraceModes {
		return "TraceMode(" + strconv.Itoa(int(m)) + ")"
	}
	return traceModeNames[m]
}

// newTraceparent returns a version-00 traceparent with random, non-zero
// trace and parent ids (as W3C Trace Context requires) and the sampled
// flag set as asked. The ids come from math/rand/v2's global generator,
// which is safe for concurrent use and independent of the run's seeded
// request streams, so tracing does not change the requests drawn.
func newTraceparent(sampled bool) string {
	var ids [24]byte // 16 bytes of trace id, 8 of parent id
	for {
		hi, lo, parent := rand.Uint64(), rand.Uint64(), rand.Uint64()
		if (hi != 0 || lo != 0) && parent != 0 {
			binary.BigEndian.PutUint64(ids[0:8], hi)
			binary.BigEndian.PutUint64(ids[8:16], lo)
			binary.BigEndian.PutUint64(ids[16:24], parent)
			break
		}
	}
	var b [55]byte // "00-" 32 hex "-" 16 hex "-" 2 hex
	copy(b[0:3], "00-")
	hex.Encode(b[3:35], ids[0:16])
	b[35] = '-'
	hex.Encode(b[36:52], ids[16:24])
	copy(b[52:55], "-00")
	if sampled {
		b[54] = '1'
	}
	return string(b[:])
}
