-- 005_containers: jobs that move a container. target names what a source job moves,
-- for the busy check of every type alike (the pid as text for type pid, the
-- container's full id otherwise); the container's id and name as the engine gives
-- them at the source, and the id it has at the destination.
ALTER TABLE jobs ADD COLUMN target TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN container_id TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN container_name TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN result_container TEXT NOT NULL DEFAULT '';
UPDATE jobs SET target = CAST(pid AS TEXT) WHERE type = 'pid';
CREATE INDEX jobs_target_state ON jobs (type, target, state);
