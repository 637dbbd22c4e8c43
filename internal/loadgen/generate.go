package loadgen

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Workload constants. They shape the traffic, not its volume.
const (
	numProducts  = 5    // default product ids sku-1..sku-5 (the demo catalog)
	maxQuantity  = 3    // quantities 1..3, so stock lasts a while
	numCustomers = 1000 // customer ids c-1..c-1000
	// replayShare is the share of keyed orders that resend an earlier key
	// with its exact body, as a client retry after a lost response would.
	replayShare = 0.25
	// idRing and keyRing bound what the run remembers: ids of created
	// orders (for GET /orders/<id>) and keyed orders (for replays).
	idRing  = 1024
	keyRing = 256
	// maxIDLen bounds an order id taken from a response.
	maxIDLen = 128
)

var (
	orderTypes = [...]string{"online", "in_store", "phone"}
	// junkMethods go to /nope/... paths; oddMethods go to real paths that
	// do not accept them. Non-standard tokens exercise the OTHER label.
	junkMethods = [...]string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch}
	oddMethods  = [...]string{http.MethodDelete, http.MethodPatch, "PROPFIND", "BREW"}
	oddPaths    = [...]string{"/orders", "/inventory", "/reports/summary"}
)

// Route templates of the generated requests: the endpoint label the service
// gives them in http_requests_total (SPEC §4), and the Route of a
// RouteCount.
const (
	RouteOrders    = "/orders"          // POST /orders, and junk methods on it
	RouteOrder     = "/orders/:id"      // GET /orders/<id>
	RouteInventory = "/inventory"       // GET /inventory
	RouteSummary   = "/reports/summary" // GET /reports/summary
	// RouteUnmatched is every junk request: an unknown path, or a real
	// path with a method it does not accept. No route matches them.
	RouteUnmatched = "unmatched"
)

// UnknownProduct is the product id of the orders Options.UnknownProductShare
// asks for: no catalog has it, so the service rejects them with 404
// (orders_rejected_total{reason="unknown_product"}).
const UnknownProduct = "sku-unknown"

// request is one generated request, ready to send.
type request struct {
	kind    Kind
	method  string
	route   string // one of the Route constants
	path    string // absolute path, appended to the base URL
	body    []byte // nil for no body; JSON otherwise
	idemKey string // Idempotency-Key header, empty for none
}

// orderBody is the JSON body of POST /orders (SPEC §3.1).
type orderBody struct {
	ProductID  string `json:"product_id"`
	Quantity   int    `json:"quantity"`
	Type       string `json:"type"`
	CustomerID string `json:"customer_id"`
}

// keyedOrder is an order sent with an Idempotency-Key, kept for replays.
type keyedOrder struct {
	key  string
	body []byte
}

// memory is the state generators share: bounded rings of created order ids
// and of keyed orders. It is safe for concurrent use.
type memory struct {
	nonce string        // per-run prefix so keys never collide across runs
	seq   atomic.Uint64 // key sequence

	mu    sync.Mutex
	ids   ring[string]
	keyed ring[keyedOrder]
}

// ring keeps the last len(slots) values added, overwriting the oldest.
type ring[T any] struct {
	slots []T
	n     int // values held, ≤ len(slots)
	pos   int // next slot to overwrite
}

func newRing[T any](size int) ring[T] { return ring[T]{slots: make([]T, size)} }

func (r *ring[T]) add(v T) {
	r.slots[r.pos] = v
	r.pos = (r.pos + 1) % len(r.slots)
	r.n = min(r.n+1, len(r.slots))
}

// pick returns the held value chosen by the random number x, if any.
func (r *ring[T]) pick(x uint64) (T, bool) {
	if r.n == 0 {
		var zero T
		return zero, false
	}
	return r.slots[x%uint64(r.n)], true
}

// newMemory returns an empty memory with a random key prefix.
func newMemory() *memory {
	var b [6]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return &memory{nonce: hex.EncodeToString(b[:]), ids: newRing[string](idRing), keyed: newRing[keyedOrder](keyRing)}
}

// addID remembers the id of a created order, evicting the oldest.
func (m *memory) addID(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids.add(id)
}

// randomID returns a remembered order id chosen by the random number r,
// if any.
func (m *memory) randomID(r uint64) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.ids.pick(r)
}

// newKey returns a fresh Idempotency-Key.
func (m *memory) newKey() string {
	return "loadgen-" + m.nonce + "-" + strconv.FormatUint(m.seq.Add(1), 10)
}

// addKeyed remembers a keyed order for later replay, evicting the oldest.
func (m *memory) addKeyed(o keyedOrder) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keyed.add(o)
}

// randomKeyed returns a remembered keyed order chosen by the random
// number r, if any.
func (m *memory) randomKeyed(r uint64) (keyedOrder, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.keyed.pick(r)
}

// source draws requests. Each goroutine that generates owns one. It
// draws the same random numbers whatever the shared memory holds, so the
// kinds, methods, paths and fresh bodies it produces are reproducible from
// its seed; which order id a read or a replay picks is not, as that
// depends on what the server answered and when.
type source struct {
	rng          *mrand.Rand
	mix          Mix
	idemShare    float64
	products     []string // read only; shared by the sources of a run
	unknownShare float64
	mem          *memory
}

// newSource returns a source for stream number stream of a run with the
// options o (valid, with Products filled in).
func newSource(stream uint64, o *Options, mem *memory) *source {
	return &source{
		rng:          mrand.New(mrand.NewPCG(o.Seed, stream)),
		mix:          o.Mix,
		idemShare:    o.IdempotencyShare,
		products:     o.Products,
		unknownShare: o.UnknownProductShare,
		mem:          mem,
	}
}

// demoProducts returns the product ids of the demo catalog, sku-1..sku-5
// (SPEC §3.2.1): the default of Options.Products.
func demoProducts() []string {
	ids := make([]string, numProducts)
	for i := range ids {
		ids[i] = "sku-" + strconv.Itoa(i+1)
	}
	return ids
}

// next returns the next request.
func (g *source) next() request {
	switch g.mix.pick(g.rng) {
	case KindOrder:
		return g.order()
	case KindRead:
		return g.read()
	default:
		return g.junk()
	}
}

// order returns a POST /orders, keyed on a share of them.
func (g *source) order() request {
	keyed := g.rng.Float64() < g.idemShare
	replay, pick := g.rng.Float64() < replayShare, g.rng.Uint64()
	if keyed && replay {
		if o, ok := g.mem.randomKeyed(pick); ok {
			return request{kind: KindOrder, method: http.MethodPost, route: RouteOrders, path: "/orders", body: o.body, idemKey: o.key}
		}
	}
	product := g.products[g.rng.IntN(len(g.products))]
	// Drawn only when asked for, so that runs without unknown products
	// keep the request sequence of their seed.
	if g.unknownShare > 0 && g.rng.Float64() < g.unknownShare {
		product = UnknownProduct
	}
	body, err := json.Marshal(orderBody{
		ProductID:  product,
		Quantity:   1 + g.rng.IntN(maxQuantity),
		Type:       orderTypes[g.rng.IntN(len(orderTypes))],
		CustomerID: "c-" + strconv.Itoa(1+g.rng.IntN(numCustomers)),
	})
	if err != nil {
		panic(fmt.Sprintf("loadgen: marshal order body: %v", err)) // strings and ints always marshal
	}
	r := request{kind: KindOrder, method: http.MethodPost, route: RouteOrders, path: "/orders", body: body}
	if keyed {
		r.idemKey = g.mem.newKey()
		g.mem.addKeyed(keyedOrder{key: r.idemKey, body: body})
	}
	return r
}

// read returns one of the three reads, in equal shares; GET /orders/<id>
// falls back to GET /inventory until an order has been created.
func (g *source) read() request {
	r := request{kind: KindRead, method: http.MethodGet}
	which, pick := g.rng.IntN(3), g.rng.Uint64()
	switch which {
	case 0:
		r.route, r.path = RouteInventory, "/inventory"
	case 1:
		r.route, r.path = RouteSummary, "/reports/summary"
	default:
		r.route, r.path = RouteInventory, "/inventory"
		if id, ok := g.mem.randomID(pick); ok {
			r.route, r.path = RouteOrder, "/orders/"+url.PathEscape(id)
		}
	}
	return r
}

// junk returns a request to a random unknown path, or a real path with a
// method it does not accept.
func (g *source) junk() request {
	if g.rng.IntN(2) == 0 {
		path := "/nope/" + strconv.FormatUint(g.rng.Uint64()&0xffffffff, 16)
		if g.rng.IntN(2) == 0 {
			path += "/" + strconv.Itoa(g.rng.IntN(1000))
		}
		return request{kind: KindJunk, method: junkMethods[g.rng.IntN(len(junkMethods))], route: RouteUnmatched, path: path}
	}
	method := oddMethods[g.rng.IntN(len(oddMethods))]
	return request{kind: KindJunk, method: method, route: RouteUnmatched, path: oddPaths[g.rng.IntN(len(oddPaths))]}
}

// extractOrderID returns the id of a created order from the Location header
// ("/orders/<id>", relative or absolute) or else from the "id" field of the
// JSON body (a string or a number). It returns "" when neither holds a
// plausible id: non-empty, at most maxIDLen bytes, no slash.
func extractOrderID(location string, body []byte) string {
	if location != "" {
		if u, err := url.Parse(location); err == nil {
			if i := strings.LastIndex(u.Path, "/orders/"); i >= 0 {
				if id := u.Path[i+len("/orders/"):]; validID(id) {
					return id
				}
			}
		}
	}
	var v struct {
		ID json.RawMessage `json:"id"`
	}
	if len(body) == 0 || json.Unmarshal(body, &v) != nil || len(v.ID) == 0 {
		return ""
	}
	var id string
	switch {
	case v.ID[0] == '"':
		if json.Unmarshal(v.ID, &id) != nil {
			return ""
		}
	case v.ID[0] == '-' || (v.ID[0] >= '0' && v.ID[0] <= '9'):
		id = string(v.ID)
	}
	if !validID(id) {
		return ""
	}
	return id
}

// validID reports whether id can be used as one path segment.
func validID(id string) bool {
	return id != "" && len(id) <= maxIDLen && !strings.ContainsAny(id, "/?#")
}
