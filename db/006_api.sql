-- 006_api: what the API builds on.
-- The Idempotency-Key of each POST /migrations, with a hash of its request and the
-- job it started; a key goes with its job.
CREATE TABLE idempotency (
	key           TEXT    PRIMARY KEY,
	body_hash     TEXT    NOT NULL,
	job_id        TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	created_at    INTEGER NOT NULL
);
CREATE INDEX idempotency_job ON idempotency (job_id);
-- Each event's kind (state, phase, iteration, progress, webhook, log), the job's state
-- when it happened, and what it carries as JSON text (the final job of a job's last
-- state event, an iteration's figures, ...), so that a stream of events tells a
-- job's story without another request.
ALTER TABLE events ADD COLUMN state TEXT NOT NULL DEFAULT '';
ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'log';
ALTER TABLE events ADD COLUMN data TEXT;
-- The webhook of a job: where the final job goes, and how its delivery stands
-- ('' none, 'pending', 'delivered', 'failed') after how many attempts.
ALTER TABLE jobs ADD COLUMN callback_url TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN webhook_state TEXT NOT NULL DEFAULT '';
ALTER TABLE jobs ADD COLUMN webhook_attempts INTEGER NOT NULL DEFAULT 0;
-- At a destination, the start time of the restored root (result_pid): after a
-- restart, a process with that pid and another start time is not ours to touch.
ALTER TABLE jobs ADD COLUMN result_start INTEGER NOT NULL DEFAULT 0;
