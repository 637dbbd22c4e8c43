-- Catalog and orders. Money is integer minor units; times are Unix microseconds (UTC).
CREATE TABLE products (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL,
    unit_price INTEGER NOT NULL CHECK (unit_price > 0),
    stock      INTEGER NOT NULL CHECK (stock >= 0),
    updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE orders (
    id              TEXT    PRIMARY KEY,
    product_id      TEXT    NOT NULL REFERENCES products (id),
    quantity        INTEGER NOT NULL CHECK (quantity > 0),
    type            TEXT    NOT NULL,
    customer_id     TEXT    NOT NULL DEFAULT '',
    unit_price      INTEGER NOT NULL,
    amount          INTEGER NOT NULL,
    currency        TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    created_at      INTEGER NOT NULL,
    idempotency_key TEXT    UNIQUE,
    request_hash    BLOB
) STRICT;

CREATE INDEX orders_type ON orders (type);
