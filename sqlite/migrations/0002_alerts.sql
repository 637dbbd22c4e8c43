-- Alerts received from Alertmanager. One row per (fingerprint, starts_at):
-- duplicate deliveries only bump the counters; times are Unix nanoseconds.
CREATE TABLE alerts (
    id                INTEGER PRIMARY KEY,
    fingerprint       TEXT    NOT NULL,
    starts_at         INTEGER NOT NULL,
    status            TEXT    NOT NULL CHECK (status IN ('firing', 'resolved')),
    alertname         TEXT    NOT NULL,
    severity          TEXT    NOT NULL,
    labels            TEXT    NOT NULL,
    annotations       TEXT    NOT NULL,
    ends_at           INTEGER,
    generator_url     TEXT    NOT NULL DEFAULT '',
    receiver          TEXT    NOT NULL,
    first_received_at INTEGER NOT NULL,
    last_received_at  INTEGER NOT NULL,
    deliveries        INTEGER NOT NULL DEFAULT 1,
    UNIQUE (fingerprint, starts_at)
) STRICT;

CREATE INDEX alerts_by_status ON alerts (status, first_received_at);

-- Every webhook delivery, including how many alerts Alertmanager left out
-- (truncatedAlerts) because of the receiver's max_alerts.
CREATE TABLE alert_deliveries (
    id               INTEGER PRIMARY KEY,
    received_at      INTEGER NOT NULL,
    receiver         TEXT    NOT NULL,
    group_key        TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    alerts           INTEGER NOT NULL,
    truncated_alerts INTEGER NOT NULL
) STRICT;
