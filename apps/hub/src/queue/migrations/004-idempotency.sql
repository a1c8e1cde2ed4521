-- Idempotent submission: a client that retries POST /api/experiments/start after a timeout, with the same
-- Idempotency-Key header, gets the experiment its first request queued instead of queueing the script twice. Keys are
-- per user and kept for a day (queue.ts, IDEMPOTENCY_TTL_MS).
CREATE TABLE submissions (
  user_id TEXT NOT NULL,
  idempotency_key TEXT NOT NULL,
  -- SHA-256 of what was submitted: the same key with another script or settings is refused, not answered.
  request_sha256 TEXT NOT NULL,
  experiment_id TEXT NOT NULL,
  created_at TEXT NOT NULL,
  PRIMARY KEY (user_id, idempotency_key)
);
CREATE INDEX submissions_by_age ON submissions (created_at);
