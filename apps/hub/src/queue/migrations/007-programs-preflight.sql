-- Programs and pre-flights (docs/programs.md, docs/preflight.md). An experiment is a Python script or a program (a
-- document the node runs itself, kept as canonical JSON in `program`; script_content is empty then). A pre-flight runs
-- on a simulation twin at `time_scale` times the wall clock; `preflight_passed` is its report's verdict (null: not
-- known yet). Rows from before this migration are scripts that were no pre-flight.
ALTER TABLE experiments ADD COLUMN kind TEXT NOT NULL DEFAULT 'script' CHECK (kind IN ('script', 'program'));
ALTER TABLE experiments ADD COLUMN program TEXT;
ALTER TABLE experiments ADD COLUMN time_scale INTEGER;
ALTER TABLE experiments ADD COLUMN preflight_passed INTEGER;

-- The lab's policy BIOREACTOR_REQUIRE_PREFLIGHT looks for a user's passed pre-flight of the same script or program.
CREATE INDEX experiments_preflights ON experiments (user_id, script_sha256) WHERE time_scale IS NOT NULL;
