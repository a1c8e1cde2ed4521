-- The queue: one row per experiment. FIFO order is `order_key` (ties broken by `seq`, the submission order).
CREATE TABLE experiments (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  name TEXT,
  user_id TEXT NOT NULL,
  script_content TEXT NOT NULL,
  status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'paused', 'completed', 'failed', 'cancelled', 'interrupted')),
  order_key REAL NOT NULL,
  node_pin TEXT,
  node TEXT,
  dispatched INTEGER NOT NULL DEFAULT 0,
  max_duration_s INTEGER NOT NULL,
  created_at TEXT NOT NULL,
  started_at TEXT,
  completed_at TEXT,
  updated_at TEXT NOT NULL,
  exit_code INTEGER,
  error_message TEXT
);

CREATE INDEX experiments_by_status_order ON experiments (status, order_key, seq);
CREATE INDEX experiments_by_user ON experiments (user_id, status);
CREATE INDEX experiments_by_completed ON experiments (completed_at);
CREATE INDEX experiments_by_order ON experiments (order_key);

-- Nodes added at runtime through the admin route (those of BIOREACTOR_NODE_API_URL are not stored).
CREATE TABLE nodes (
  name TEXT PRIMARY KEY,
  url TEXT NOT NULL,
  added_at TEXT NOT NULL
);

-- Durations of finished runs, kept after the sweep so estimates learn from history.
CREATE TABLE run_durations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  duration_s REAL NOT NULL,
  finished_at TEXT NOT NULL
);

CREATE TABLE meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
