-- Resolved alerts are deleted once their last delivery is older than
-- ALERT_RETENTION: the index makes that a range scan.
CREATE INDEX alerts_resolved_by_age ON alerts (status, last_received_at);
