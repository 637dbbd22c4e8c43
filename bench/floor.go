package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/ordersvc/ordersvc"
)

// The floor (SPEC §10): the least an HTTP server can do to take an order
// with the service's own store and transaction. It has no router, no
// metrics, no error tracking, no logging, no request id and no key
// exactness check: it decodes the body with encoding/json into plain
// fields, calls CreateOrder, and encodes the order. What the full service
// costs above it is the price of everything else it does.

// maxFloorBody bounds the body the floor reads, as the service does.
const maxFloorBody = 64 << 10

// floorRequest is the body of POST /orders, decoded without any checks
// beyond what encoding/json does.
type floorRequest struct {
	ProductID  string `json:"product_id"`
	Quantity   int64  `json:"quantity"`
	Type       string `json:"type"`
	CustomerID string `json:"customer_id"`
}

// FloorHandler returns the floor's handler: POST /orders only, every other
// request a 404 (or 405 on /orders).
func FloorHandler(orders ordersvc.OrderService) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/orders" {
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodPost {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxFloorBody))
		if err != nil {
			http.Error(w, "unreadable body", http.StatusBadRequest)
			return
		}
		var req floorRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, "malformed JSON", http.StatusBadRequest)
			return
		}
		o, _, err := orders.CreateOrder(r.Context(), ordersvc.NewOrder{
			ProductID: req.ProductID, Quantity: req.Quantity, Type: ordersvc.OrderType(req.Type),
			CustomerID: req.CustomerID, IdempotencyKey: r.Header.Get("Idempotency-Key"),
		})
		if err != nil {
			http.Error(w, err.Error(), floorStatus(err))
			return
		}
		out, err := json.Marshal(o)
		if err != nil {
			http.Error(w, "encode order", http.StatusInternalServerError)
			return
		}
		// The same headers as the service's answer, so both send the same
		// response to the driver.
		h := w.Header()
		h["Content-Type"] = []string{"application/json; charset=utf-8"}
		h["Location"] = []string{"/orders/" + o.ID}
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write(out)
	})
}

// floorStatus maps a domain error to a status, as coarsely as a floor may.
func floorStatus(err error) int {
	e, ok := ordersvc.AsError(err)
	if !ok {
		return http.StatusInternalServerError
	}
	switch e.Kind {
	case ordersvc.KindInvalid:
		return http.StatusUnprocessableEntity
	case ordersvc.KindNotFound:
		return http.StatusNotFound
	case ordersvc.KindConflict:
		return http.StatusConflict
	case ordersvc.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// Server is an HTTP server started on a loopback listener by StartServer:
// the floor, or the full service's handler.
type Server struct {
	srv    *http.Server
	ln     net.Listener
	served chan error
}

// StartServer serves h on a fresh listener at 127.0.0.1 on a free port
// until Close.
func StartServer(h http.Handler) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on loopback: %w", err)
	}
	return Serve(ln, &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}), nil
}

// Serve runs srv on ln in the background until Close.
func Serve(ln net.Listener, srv *http.Server) *Server {
	s := &Server{srv: srv, ln: ln, served: make(chan error, 1)}
	go func() { s.served <- srv.Serve(ln) }()
	return s
}

// StartFloor starts the floor on orders at 127.0.0.1, on a free port.
func StartFloor(orders ordersvc.OrderService) (*Server, error) {
	return StartServer(FloorHandler(orders))
}

// URL is the server's base URL, http://127.0.0.1:port.
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Close stops the server: open connections get a few seconds to finish.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if serr := <-s.served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("stop server on %s: %w", s.ln.Addr(), err)
	}
	return nil
}
