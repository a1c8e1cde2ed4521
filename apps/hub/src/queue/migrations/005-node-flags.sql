-- Per-node flags an admin sets, for every node (those of BIOREACTOR_NODE_API_URL too): `drained` = it finishes its
-- run and takes no new ones (POST /api/nodes/{name}/drain).
CREATE TABLE node_flags (
  name TEXT PRIMARY KEY,
  drained INTEGER NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL
);
