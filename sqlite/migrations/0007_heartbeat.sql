-- The dead man's switch on the Watchdog heartbeat: one row, updated by
-- every heartbeat, so a minute-by-minute heartbeat never grows a table.
-- Times are Unix nanoseconds; NULL last_received_at means never.
CREATE TABLE heartbeat (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    last_received_at  INTEGER,
    receiver          TEXT    NOT NULL DEFAULT '',
    silent_since      INTEGER,
    outages           INTEGER NOT NULL DEFAULT 0,
    last_recovered_at INTEGER
) STRICT;

INSERT INTO heartbeat (id) VALUES (1);
