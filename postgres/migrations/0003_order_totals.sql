-- Order count and revenue by type, maintained in the same transaction as
-- each order, so GET /reports/summary reads a few rows instead of every
-- order. Each type is spread over slots (an order picks one at random) so
-- that concurrent orders on several replicas do not all queue on one row
-- lock. Revenue is exact beyond bigint: revenue_hi·10^18 + revenue_lo
-- minor units, 0 <= revenue_lo < 10^18.
CREATE TABLE order_totals (
    type       text     NOT NULL,
    slot       smallint NOT NULL,
    orders     bigint   NOT NULL CHECK (orders >= 0),
    revenue_hi bigint   NOT NULL CHECK (revenue_hi >= 0),
    revenue_lo bigint   NOT NULL CHECK (revenue_lo >= 0 AND revenue_lo < 1000000000000000000),
    PRIMARY KEY (type, slot)
);

-- Built from the orders already there (sum() of bigint is an exact numeric).
INSERT INTO order_totals (type, slot, orders, revenue_hi, revenue_lo)
SELECT type, 0, count(*), div(sum(amount), 1000000000000000000)::bigint, mod(sum(amount), 1000000000000000000)::bigint
FROM orders GROUP BY type;

-- The report's low-stock list reads the lowest stock first, bounded.
CREATE INDEX products_by_stock ON products (stock, id);

-- The revenue report no longer reads orders by type.
DROP INDEX IF EXISTS orders_type_amount;

-- Resolved alerts are deleted once their last delivery is older than
-- ALERT_RETENTION: the index makes that a range scan.
CREATE INDEX alerts_resolved_by_age ON alerts (status, last_received_at);
