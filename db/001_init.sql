-- 001_init: jobs, their dump iterations and their event log.
-- Times are milliseconds since the epoch (0: not reached yet); statistics are -1
-- when unknown. State and role are stored as their API names so that the database
-- reads well with the sqlite3 shell and survives a reordering of the C enums.

CREATE TABLE jobs (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	id            TEXT    NOT NULL UNIQUE,
	type          TEXT    NOT NULL,
	role          TEXT    NOT NULL CHECK (role IN ('source', 'destination')),
	pid           INTEGER NOT NULL,
	dest          TEXT    NOT NULL DEFAULT '',  -- struct job's "to"
	mode          TEXT    NOT NULL DEFAULT '',
	strategy      TEXT    NOT NULL DEFAULT '',
	options       TEXT,                         -- JSON object text, NULL when none
	state         TEXT    NOT NULL CHECK (state IN
	                  ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
	phase         TEXT    NOT NULL DEFAULT '',
	created_at    INTEGER NOT NULL,
	started_at    INTEGER NOT NULL DEFAULT 0,
	finished_at   INTEGER NOT NULL DEFAULT 0,
	result_pid    INTEGER NOT NULL DEFAULT 0,
	err_code      TEXT    NOT NULL DEFAULT '',
	err_msg       TEXT    NOT NULL DEFAULT '',
	err_phase     TEXT    NOT NULL DEFAULT '',
	err_where     TEXT    NOT NULL DEFAULT '',
	downtime_ms   INTEGER NOT NULL DEFAULT -1,
	frozen_ms     INTEGER NOT NULL DEFAULT -1,
	total_ms      INTEGER NOT NULL DEFAULT -1,
	restore_ms    INTEGER NOT NULL DEFAULT -1,
	bytes         INTEGER NOT NULL DEFAULT -1,
	pages_written INTEGER NOT NULL DEFAULT -1
);

-- Recovery at start lists unfinished jobs oldest first; the busy check looks a pid up
-- among the source jobs still in flight.
CREATE INDEX jobs_state_seq ON jobs (state, seq);
CREATE INDEX jobs_pid_state ON jobs (pid, state);

CREATE TABLE job_iterations (
	job_id        TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	idx           INTEGER NOT NULL CHECK (idx >= 0),
	kind          TEXT    NOT NULL,
	frozen_ms     INTEGER NOT NULL DEFAULT -1,
	memdump_ms    INTEGER NOT NULL DEFAULT -1,
	memwrite_ms   INTEGER NOT NULL DEFAULT -1,
	pages_scanned INTEGER NOT NULL DEFAULT -1,
	pages_skipped INTEGER NOT NULL DEFAULT -1,
	pages_written INTEGER NOT NULL DEFAULT -1,
	bytes         INTEGER NOT NULL DEFAULT -1,
	duration_ms   INTEGER NOT NULL DEFAULT -1,
	PRIMARY KEY (job_id, idx)
);

CREATE TABLE events (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	job_id        TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
	ts            INTEGER NOT NULL,
	level         TEXT    NOT NULL CHECK (level IN ('info', 'warn', 'error')),
	phase         TEXT    NOT NULL DEFAULT '',
	message       TEXT    NOT NULL
);

-- A job's log is read in id order from a cursor (after=).
CREATE INDEX events_job_id ON events (job_id, id);
