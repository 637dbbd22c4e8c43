-- The dead man's switch on the Watchdog heartbeat: one row shared by every
-- replica, updated by every heartbeat. Times are bigint Unix nanoseconds;
-- NULL last_received_at means never.
CREATE TABLE heartbeat (
    id                smallint PRIMARY KEY CHECK (id = 1),
    last_received_at  bigint,
    receiver          text   NOT NULL DEFAULT '',
    silent_since      bigint,
    outages           bigint NOT NULL DEFAULT 0,
    last_recovered_at bigint
);

INSERT INTO heartbeat (id) VALUES (1);
