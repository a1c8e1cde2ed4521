-- Webhook notifications (BIOREACTOR_NOTIFY_URL): one row per experiment end, kept until it is delivered or given up,
-- so a hub killed before delivering sends it after its restart. Rows go with their experiment when it is swept.
CREATE TABLE notifications (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  experiment_id TEXT NOT NULL REFERENCES experiments (id) ON DELETE CASCADE,
  status TEXT NOT NULL,
  payload TEXT NOT NULL,
  created_at TEXT NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_ms INTEGER NOT NULL,
  last_error TEXT,
  delivered_at TEXT,
  UNIQUE (experiment_id, status)
);

CREATE INDEX notifications_pending ON notifications (delivered_at, next_attempt_ms);
