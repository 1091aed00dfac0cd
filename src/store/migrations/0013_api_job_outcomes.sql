-- API jobs that a door runs itself, outside the orchestrator's queue (the native door's volume
-- attach, detach and resize): their own state (running, succeeded or failed), the door's error
-- code and text when they failed, and when they ended. Rows made before keep `succeeded`.
ALTER TABLE api_jobs ADD COLUMN state TEXT NOT NULL DEFAULT 'succeeded';
ALTER TABLE api_jobs ADD COLUMN error_code TEXT;
ALTER TABLE api_jobs ADD COLUMN error_text TEXT;
ALTER TABLE api_jobs ADD COLUMN finished_ms BIGINT;

-- A snapshot's own name (the native API's createSnapshot `name`); NULL when none was given.
ALTER TABLE snapshots ADD COLUMN name TEXT;
