-- 002_pid_start: the source process's start time, so that recovery after a restart
-- can tell the migrated process from a later one that reuses its pid.
ALTER TABLE jobs ADD COLUMN pid_start INTEGER NOT NULL DEFAULT 0;
