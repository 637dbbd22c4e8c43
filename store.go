package ordersvc

import "context"

// Store is everything the service needs from its database: the services
// of the domain plus the store's own lifecycle. The SQLite and PostgreSQL
// stores implement it; internal/app assembles the service over one, and
// the conformance suite (internal/storetest) tests each against it.
type Store interface {
	OrderService
	InventoryService
	ReportService
	AlertService
	HeartbeatService
	// Ping checks that the database answers a query on a real table of
	// the schema; /readyz and db_up use it.
	Ping(ctx context.Context) error
	// SeedIfEmpty stores products when the catalog is empty and reports
	// whether it did.
	SeedIfEmpty(ctx context.Context, products []Product) (bool, error)
	// Close releases the connections.
	Close() error
}
