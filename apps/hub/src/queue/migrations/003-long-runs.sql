-- Long runs (docs/queue.md, "Long runs"): run times and retention on the hub's monotonic timeline instead of the wall
-- clock, the script's hash so estimates learn from the same script's runs, where max_duration_s came from, what
-- run-now did to a running experiment, and archiving by the lab's retention policy instead of silent deletion.
ALTER TABLE experiments ADD COLUMN script_sha256 TEXT;
-- Rows from before this migration got the hub's default duration when they declared none.
ALTER TABLE experiments ADD COLUMN max_duration_source TEXT NOT NULL DEFAULT 'lab_default';
-- Timeline ms (apps/hub/src/clock.ts) when the hub claimed the run, and when it ended.
ALTER TABLE experiments ADD COLUMN started_mono REAL;
ALTER TABLE experiments ADD COLUMN ended_mono REAL;
ALTER TABLE experiments ADD COLUMN preempted_by TEXT;
ALTER TABLE experiments ADD COLUMN archived_at TEXT;

CREATE INDEX experiments_by_ended ON experiments (ended_mono);

ALTER TABLE run_durations ADD COLUMN user_id TEXT;
ALTER TABLE run_durations ADD COLUMN script_sha256 TEXT;
CREATE INDEX run_durations_by_script ON run_durations (script_sha256, seq);
CREATE INDEX run_durations_by_user ON run_durations (user_id, seq);

-- Retries were due by the wall clock and are due by the timeline from now on: those pending are due at once.
UPDATE notifications SET next_attempt_ms = 0 WHERE delivered_at IS NULL;
