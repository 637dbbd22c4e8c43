-- Alerts received from Alertmanager. One row per (fingerprint, starts_at):
-- duplicate deliveries only bump the counters. Alert times are bigint Unix
-- nanoseconds: Alertmanager's startsAt carries nanoseconds and is part of
-- the identity, which timestamptz (microseconds) would blur. Labels and
-- annotations are JSON text, as in SQLite (jsonb cannot hold \u0000).
CREATE TABLE alerts (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    fingerprint       text   NOT NULL,
    starts_at         bigint NOT NULL,
    status            text   NOT NULL CHECK (status IN ('firing', 'resolved')),
    alertname         text   NOT NULL,
    severity          text   NOT NULL,
    labels            text   NOT NULL,
    annotations       text   NOT NULL,
    ends_at           bigint,
    generator_url     text   NOT NULL DEFAULT '',
    receiver          text   NOT NULL,
    first_received_at bigint NOT NULL,
    last_received_at  bigint NOT NULL,
    deliveries        bigint NOT NULL DEFAULT 1,
    UNIQUE (fingerprint, starts_at)
);

CREATE INDEX alerts_by_status ON alerts (status, first_received_at);
CREATE INDEX alerts_by_first_received ON alerts (first_received_at);

-- Every webhook delivery, including how many alerts Alertmanager left out
-- (truncatedAlerts) because of the receiver's max_alerts. Bounded by the
-- store: older rows are deleted as new ones arrive.
CREATE TABLE alert_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    received_at      timestamptz NOT NULL,
    receiver         text        NOT NULL,
    group_key        text        NOT NULL,
    status           text        NOT NULL,
    alerts           integer     NOT NULL,
    truncated_alerts integer     NOT NULL
);
