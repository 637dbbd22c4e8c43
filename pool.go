package ordersvc

// PoolStat is the state of one of a store's connection pools, for the
// db_pool_connections gauge: SQLite has a "read" and a "write" pool,
// PostgreSQL one "main" pool.
type PoolStat struct {
	Pool  string
	InUse int
	Idle  int
}
