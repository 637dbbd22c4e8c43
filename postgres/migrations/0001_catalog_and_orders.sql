-- Catalog and orders. Money is bigint minor units (the domain bounds it far
-- below the bigint range); times are timestamptz (microseconds, as the
-- domain truncates them). Identifiers sort by bytes (COLLATE "C"), as in
-- SQLite, so "ordered by id" means the same on both stores.
CREATE TABLE products (
    id         text COLLATE "C" PRIMARY KEY,
    name       text        NOT NULL,
    unit_price bigint      NOT NULL CHECK (unit_price > 0),
    stock      bigint      NOT NULL CHECK (stock >= 0),
    updated_at timestamptz NOT NULL
);

CREATE TABLE orders (
    id              text COLLATE "C" PRIMARY KEY,
    product_id      text COLLATE "C" NOT NULL REFERENCES products (id),
    quantity        bigint      NOT NULL CHECK (quantity > 0),
    type            text        NOT NULL,
    customer_id     text        NOT NULL DEFAULT '',
    unit_price      bigint      NOT NULL,
    amount          bigint      NOT NULL,
    currency        text        NOT NULL,
    status          text        NOT NULL,
    created_at      timestamptz NOT NULL,
    -- Unique across every replica: two requests with one key make one order.
    idempotency_key text UNIQUE,
    request_hash    bytea
);

-- GET /reports/summary sums amounts by type: an index-only scan.
CREATE INDEX orders_type_amount ON orders (type, amount);
