// Package ordersvc holds the domain of the order service: the types every
// layer speaks (Order, Product, Alert, Money), the interfaces the storage
// layer implements, and the error kinds that handlers map to HTTP statuses.
//
// It imports no sub-package of this module; dependencies point inward.
package ordersvc
