-- 006_api: what the API builds on. The Idempotency-Key of each POST /migrations,
-- with a hash of its body and the job it started (gone with the job); and each
-- event's job state, so that a stream of events tells a job's end by itself.
CREATE TABLE idempotency (
	key           TEXT    PRIMARY KEY,
	body_hash     TEXT    NOT NULL,
	job_id        TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	created_at    INTEGER NOT NULL
);
CREATE INDEX idempotency_job ON idempotency (job_id);
ALTER TABLE events ADD COLUMN state TEXT NOT NULL DEFAULT '';
