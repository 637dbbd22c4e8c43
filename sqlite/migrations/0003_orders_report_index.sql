-- GET /reports/summary sums amounts by type: a covering index lets SQLite
-- answer from the index alone instead of reading every order row.
DROP INDEX IF EXISTS orders_type;
CREATE INDEX orders_type_amount ON orders (type, amount);
