/* store.c: the SQLite store (see store.h). Every SQL statement of hauld is in the
 * table below, prepared once at open; values are always bound, never formatted
 * into SQL. The schema itself lives in db/ and arrives here as schema_migrations[]. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"
#include "schema.h"
#include "store.h"
#include "util.h"

/* A writer holding the database (another hauld, the sqlite3 shell) is waited for
 * this long before a call fails with -EIO. */
#define STORE_BUSY_MS 5000

enum stmt {
	/* These touch only schema_version and are prepared before the migrations run;
	 * the others name tables that the migrations create. */
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_VERSION_GET,
	ST_VERSION_ADD,
	ST_N_BOOT,

	ST_JOB_INSERT = ST_N_BOOT,
	ST_JOB_UPDATE,
	ST_JOB_GET,
	ST_JOB_LIST,
	ST_JOB_UNFINISHED,
	ST_TARGET_BUSY,
	ST_ITER_ADD,
	ST_ITER_LIST,
	ST_EVENT_ADD,
	ST_EVENT_COUNT,
	ST_EVENT_LIST,
	ST_JOB_PRUNE,
	ST_IDEM_GET,
	ST_IDEM_PUT,
	ST_EVENT_ALL,
	ST_EVENT_LAST,
	ST_WEBHOOK_PENDING,
	ST_JOB_COUNTS,
	ST__COUNT
};

/* The columns row_to_job reads, in its order. */
#define JOB_COLS "seq, id, type, role, pid, dest, mode, strategy, options, state, phase," \
	" created_at, started_at, finished_at, result_pid, err_code, err_msg, err_phase," \
	" err_where, downtime_ms, frozen_ms, total_ms, restore_ms, bytes, pages_written," \
	" pid_start, strategy_reason, lazy_pages, lazy_pages_left, target, container_id," \
	" container_name, result_container, callback_url, webhook_state, webhook_attempts," \
	" result_start, command, bytes_raw, compression, restore_pages"

/* The columns events_collect reads, in its order. */
#define EVENT_COLS "id, job_id, ts, level, phase, message, state, kind, data"

static const char *const stmt_sql[ST__COUNT] = {
	/* IMMEDIATE takes the write lock at once, so two daemons starting together
	 * cannot both decide that a migration is still to be applied. */
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_VERSION_GET] = "SELECT COALESCE(MAX(version), 0) FROM schema_version",
	[ST_VERSION_ADD] = "INSERT INTO schema_version (version, name, applied_at)"
			   " VALUES (?1, ?2, ?3)",

	[ST_JOB_INSERT] =
		"INSERT INTO jobs (id, type, role, pid, dest, mode, strategy, options, state,"
		" phase, created_at, started_at, finished_at, result_pid, err_code, err_msg,"
		" err_phase, err_where, downtime_ms, frozen_ms, total_ms, restore_ms, bytes,"
		" pages_written, pid_start, strategy_reason, lazy_pages, lazy_pages_left,"
		" target, container_id, container_name, result_container, callback_url,"
		" webhook_state, webhook_attempts, result_start, command, bytes_raw,"
		" compression, restore_pages)"
		" VALUES (:id, :type, :role, :pid, :dest, :mode, :strategy,"
		" :options, :state, :phase, :created_at, :started_at, :finished_at,"
		" :result_pid, :err_code, :err_msg, :err_phase, :err_where, :downtime_ms,"
		" :frozen_ms, :total_ms, :restore_ms, :bytes, :pages_written, :pid_start,"
		" :strategy_reason, :lazy_pages, :lazy_pages_left, :target, :container_id,"
		" :container_name, :result_container, :callback_url, :webhook_state,"
		" :webhook_attempts, :result_start, :command, :bytes_raw, :compression,"
		" :restore_pages)",
	[ST_JOB_UPDATE] =
		"UPDATE jobs SET type = :type, role = :role, pid = :pid, dest = :dest,"
		" mode = :mode, strategy = :strategy, options = :options, state = :state,"
		" phase = :phase, created_at = :created_at, started_at = :started_at,"
		" finished_at = :finished_at, result_pid = :result_pid, err_code = :err_code,"
		" err_msg = :err_msg, err_phase = :err_phase, err_where = :err_where,"
		" downtime_ms = :downtime_ms, frozen_ms = :frozen_ms, total_ms = :total_ms,"
		" restore_ms = :restore_ms, bytes = :bytes, pages_written = :pages_written,"
		" pid_start = :pid_start, strategy_reason = :strategy_reason,"
		" lazy_pages = :lazy_pages, lazy_pages_left = :lazy_pages_left,"
		" target = :target, container_id = :container_id,"
		" container_name = :container_name, result_container = :result_container,"
		" callback_url = :callback_url, webhook_state = :webhook_state,"
		" webhook_attempts = :webhook_attempts, result_start = :result_start,"
		" command = :command, bytes_raw = :bytes_raw, compression = :compression,"
		" restore_pages = :restore_pages WHERE id = :id",
	[ST_JOB_GET] = "SELECT " JOB_COLS " FROM jobs WHERE id = ?1",
	[ST_JOB_LIST] = "SELECT " JOB_COLS " FROM jobs WHERE seq < ?1"
			" AND (?3 IS NULL OR state = ?3) AND (?4 IS NULL OR type = ?4)"
			" ORDER BY seq DESC LIMIT ?2",
	[ST_JOB_UNFINISHED] = "SELECT " JOB_COLS " FROM jobs"
			      " WHERE state IN ('queued', 'running') ORDER BY seq",
	[ST_TARGET_BUSY] = "SELECT 1 FROM jobs WHERE type = ?1 AND target = ?2"
			   " AND role = 'source' AND state IN ('queued', 'running') LIMIT 1",
	[ST_ITER_ADD] =
		"INSERT INTO job_iterations (job_id, idx, kind, frozen_ms, memdump_ms,"
		" memwrite_ms, pages_scanned, pages_skipped, pages_written, bytes, duration_ms)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
	[ST_ITER_LIST] =
		"SELECT idx, kind, frozen_ms, memdump_ms, memwrite_ms, pages_scanned,"
		" pages_skipped, pages_written, bytes, duration_ms"
		" FROM job_iterations WHERE job_id = ?1 ORDER BY idx",
	[ST_EVENT_ADD] = "INSERT INTO events (job_id, ts, level, phase, message, state, kind,"
			 " data) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
	[ST_EVENT_COUNT] = "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE job_id = ?1"
			   " LIMIT ?2)",
	[ST_EVENT_LIST] = "SELECT " EVENT_COLS " FROM events"
			  " WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
	/* Every job's events after a cursor (?2 = '' for all jobs). */
	[ST_EVENT_ALL] = "SELECT " EVENT_COLS " FROM events"
			 " WHERE id > ?1 AND (?2 = '' OR job_id = ?2) ORDER BY id LIMIT ?3",
	[ST_EVENT_LAST] = "SELECT COALESCE(MAX(id), 0) FROM events",
	[ST_WEBHOOK_PENDING] = "SELECT id FROM jobs WHERE webhook_state = 'pending'"
			       " ORDER BY seq LIMIT ?1",
	[ST_JOB_COUNTS] = "SELECT role, state, COUNT(*) FROM jobs"
			  " WHERE state IN ('queued', 'running') GROUP BY role, state",
	[ST_IDEM_GET] = "SELECT body_hash, job_id FROM idempotency WHERE key = ?1",
	[ST_IDEM_PUT] = "INSERT INTO idempotency (key, body_hash, job_id, created_at)"
			" VALUES (?1, ?2, ?3, ?4)",
	/* Finished jobs older than the ?1-th newest finished one; their iterations and
	 * events go with them (ON DELETE CASCADE). Both scans use jobs_state_seq. */
	[ST_JOB_PRUNE] = "DELETE FROM jobs WHERE state IN ('succeeded', 'failed', 'cancelled')"
			 " AND webhook_state != 'pending'"
			 " AND seq < (SELECT seq FROM jobs"
			 " WHERE state IN ('succeeded', 'failed', 'cancelled')"
			 " ORDER BY seq DESC LIMIT 1 OFFSET ?1 - 1)",
};

/* Run outside any transaction: SQLite ignores these pragmas inside one. The
 * migrations record themselves in schema_version, so it exists before them. */
static const char store_setup_sql[] =
	"PRAGMA journal_mode = WAL;"
	"PRAGMA synchronous = NORMAL;"
	"PRAGMA foreign_keys = ON;"
	"CREATE TABLE IF NOT EXISTS schema_version ("
	" version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);";

struct store {
	pthread_mutex_t mu;    /* guards db and every statement, which are stateful */
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	int event_limit;             /* events kept per job */
	int version;           /* schema version, fixed after store_open */
	void (*event_hook)(void *ctx, int64_t id);   /* after each event added */
	void *event_ctx;
};

/* Map the connection's last error to the store's errno vocabulary. Constraint
 * failures are the caller's doing and expected; anything else is logged. */
static int store_err(struct store *s, const char *what)
{
	switch (sqlite3_extended_errcode(s->db)) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return -EEXIST;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return -ENOENT;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
		return -EINVAL;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		log_warnx("store: %s: %s", what, sqlite3_errmsg(s->db));
		return -EIO;
	}
}

/* Step a statement that returns no row. */
static int store_run(struct store *s, sqlite3_stmt *st, const char *what)
{
	return sqlite3_step(st) == SQLITE_DONE ? 0 : store_err(s, what);
}

/* Make a statement ready for its next use. The bindings are cleared too because
 * text is bound without a copy and the caller's buffers do not outlive the call. */
static void stmt_done(sqlite3_stmt *st)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
}

/* Step and reset one of the statement-only entries (BEGIN, COMMIT, ROLLBACK). */
static int store_exec(struct store *s, enum stmt idx)
{
	int rc = store_run(s, s->st[idx], stmt_sql[idx]);

	stmt_done(s->st[idx]);
	return rc;
}

static int store_prepare(struct store *s, enum stmt from, enum stmt to)
{
	int i;

	for (i = from; i < (int)to; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
				       &s->st[i], NULL) != SQLITE_OK) {
			log_warnx("store: prepare \"%s\": %s", stmt_sql[i], sqlite3_errmsg(s->db));
			return -EIO;
		}
	}
	return 0;
}

static int bind_text(sqlite3_stmt *st, int idx, const char *v, size_t cap)
{
	return sqlite3_bind_text(st, idx, v, (int)strnlen(v, cap), SQLITE_STATIC);
}

static int bind_named_text(sqlite3_stmt *st, const char *name, const char *v, size_t cap)
{
	return bind_text(st, sqlite3_bind_parameter_index(st, name), v, cap);
}

static int bind_named_int(sqlite3_stmt *st, const char *name, int64_t v)
{
	return sqlite3_bind_int64(st, sqlite3_bind_parameter_index(st, name), v);
}

/* Bind every field of j by name, for both INSERT and UPDATE. Binding fails only on
 * misuse or lack of memory, so the results are gathered and checked once. */
static int bind_job(sqlite3_stmt *st, const struct job *j)
{
	int e = 0;

	e |= bind_named_text(st, ":id", j->id, sizeof(j->id));
	e |= bind_named_text(st, ":type", j->type, sizeof(j->type));
	e |= bind_named_text(st, ":role", job_role_name(j->role), 16);
	e |= bind_named_int(st, ":pid", j->pid);
	e |= bind_named_text(st, ":dest", j->to, sizeof(j->to));
	e |= bind_named_text(st, ":mode", j->mode, sizeof(j->mode));
	e |= bind_named_text(st, ":strategy", j->strategy, sizeof(j->strategy));
	if (j->options)
		e |= sqlite3_bind_text(st, sqlite3_bind_parameter_index(st, ":options"),
				       j->options, -1, SQLITE_STATIC);
	else
		e |= sqlite3_bind_null(st, sqlite3_bind_parameter_index(st, ":options"));
	e |= bind_named_text(st, ":state", job_state_name(j->state), 16);
	e |= bind_named_text(st, ":phase", j->phase, sizeof(j->phase));
	e |= bind_named_int(st, ":created_at", j->created_at);
	e |= bind_named_int(st, ":started_at", j->started_at);
	e |= bind_named_int(st, ":finished_at", j->finished_at);
	e |= bind_named_int(st, ":result_pid", j->result_pid);
	e |= bind_named_text(st, ":err_code", j->err_code, sizeof(j->err_code));
	e |= bind_named_text(st, ":err_msg", j->err_msg, sizeof(j->err_msg));
	e |= bind_named_text(st, ":err_phase", j->err_phase, sizeof(j->err_phase));
	e |= bind_named_text(st, ":err_where", j->err_where, sizeof(j->err_where));
	e |= bind_named_int(st, ":downtime_ms", j->stats.downtime_ms);
	e |= bind_named_int(st, ":frozen_ms", j->stats.frozen_ms);
	e |= bind_named_int(st, ":total_ms", j->stats.total_ms);
	e |= bind_named_int(st, ":restore_ms", j->stats.restore_ms);
	e |= bind_named_int(st, ":bytes", j->stats.bytes);
	e |= bind_named_int(st, ":pages_written", j->stats.pages_written);
	e |= bind_named_int(st, ":pid_start", (int64_t)j->pid_start);
	e |= bind_named_text(st, ":strategy_reason", j->strategy_reason,
			     sizeof(j->strategy_reason));
	e |= bind_named_int(st, ":lazy_pages", j->stats.lazy_pages);
	e |= bind_named_int(st, ":lazy_pages_left", j->stats.lazy_pages_left);
	e |= bind_named_text(st, ":target", j->target, sizeof(j->target));
	e |= bind_named_text(st, ":container_id", j->container_id, sizeof(j->container_id));
	e |= bind_named_text(st, ":container_name", j->container_name,
			     sizeof(j->container_name));
	e |= bind_named_text(st, ":result_container", j->result_container,
			     sizeof(j->result_container));
	e |= bind_named_text(st, ":callback_url", j->callback_url, sizeof(j->callback_url));
	e |= bind_named_text(st, ":webhook_state", j->webhook_state, sizeof(j->webhook_state));
	e |= bind_named_int(st, ":webhook_attempts", j->webhook_attempts);
	e |= bind_named_int(st, ":result_start", (int64_t)j->result_start);
	e |= bind_named_text(st, ":command", j->command, sizeof(j->command));
	e |= bind_named_int(st, ":bytes_raw", j->stats.bytes_raw);
	e |= bind_named_text(st, ":compression", j->stats.compression,
			     sizeof(j->stats.compression));
	e |= bind_named_text(st, ":restore_pages", j->stats.restore_pages,
			     sizeof(j->stats.restore_pages));
	return e;
}

/* Copy a text column into a fixed field. A value too long is cut at a UTF-8
 * character boundary, so the field stays valid text for the JSON layer. */
static void col_text(sqlite3_stmt *st, int col, char *dst, size_t cap)
{
	const unsigned char *src = sqlite3_column_text(st, col);
	size_t n = 0;

	if (src) {
		n = (size_t)sqlite3_column_bytes(st, col);
		if (n >= cap) {
			n = cap - 1;
			while (n > 0 && (src[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(dst, src, n);
	}
	dst[n] = '\0';
}

static int role_parse(const char *s, enum job_role *out)
{
	if (strcmp(s, job_role_name(JOB_SOURCE)) == 0)
		*out = JOB_SOURCE;
	else if (strcmp(s, job_role_name(JOB_DESTINATION)) == 0)
		*out = JOB_DESTINATION;
	else
		return -EINVAL;
	return 0;
}

/* Fill j (job_init'ed) from the current row of a JOB_COLS select. */
static int row_to_job(sqlite3_stmt *st, struct job *j)
{
	char role[16], state[16];
	const unsigned char *opt;
	int c = 0;

	j->seq = sqlite3_column_int64(st, c++);
	col_text(st, c++, j->id, sizeof(j->id));
	col_text(st, c++, j->type, sizeof(j->type));
	col_text(st, c++, role, sizeof(role));
	j->pid = sqlite3_column_int(st, c++);
	col_text(st, c++, j->to, sizeof(j->to));
	col_text(st, c++, j->mode, sizeof(j->mode));
	col_text(st, c++, j->strategy, sizeof(j->strategy));
	opt = sqlite3_column_text(st, c++);
	col_text(st, c++, state, sizeof(state));
	col_text(st, c++, j->phase, sizeof(j->phase));
	j->created_at = sqlite3_column_int64(st, c++);
	j->started_at = sqlite3_column_int64(st, c++);
	j->finished_at = sqlite3_column_int64(st, c++);
	j->result_pid = sqlite3_column_int(st, c++);
	col_text(st, c++, j->err_code, sizeof(j->err_code));
	col_text(st, c++, j->err_msg, sizeof(j->err_msg));
	col_text(st, c++, j->err_phase, sizeof(j->err_phase));
	col_text(st, c++, j->err_where, sizeof(j->err_where));
	j->stats.downtime_ms = sqlite3_column_int64(st, c++);
	j->stats.frozen_ms = sqlite3_column_int64(st, c++);
	j->stats.total_ms = sqlite3_column_int64(st, c++);
	j->stats.restore_ms = sqlite3_column_int64(st, c++);
	j->stats.bytes = sqlite3_column_int64(st, c++);
	j->stats.pages_written = sqlite3_column_int64(st, c++);
	j->pid_start = (uint64_t)sqlite3_column_int64(st, c++);
	col_text(st, c++, j->strategy_reason, sizeof(j->strategy_reason));
	j->stats.lazy_pages = sqlite3_column_int64(st, c++);
	j->stats.lazy_pages_left = sqlite3_column_int64(st, c++);
	col_text(st, c++, j->target, sizeof(j->target));
	col_text(st, c++, j->container_id, sizeof(j->container_id));
	col_text(st, c++, j->container_name, sizeof(j->container_name));
	col_text(st, c++, j->result_container, sizeof(j->result_container));
	col_text(st, c++, j->callback_url, sizeof(j->callback_url));
	col_text(st, c++, j->webhook_state, sizeof(j->webhook_state));
	j->webhook_attempts = sqlite3_column_int(st, c++);
	j->result_start = (uint64_t)sqlite3_column_int64(st, c++);
	col_text(st, c++, j->command, sizeof(j->command));
	j->stats.bytes_raw = sqlite3_column_int64(st, c++);
	col_text(st, c++, j->stats.compression, sizeof(j->stats.compression));
	col_text(st, c++, j->stats.restore_pages, sizeof(j->stats.restore_pages));

	if (role_parse(role, &j->role) < 0 || job_state_parse(state, &j->state) < 0) {
		log_warnx("store: job %s has role \"%s\", state \"%s\"", j->id, role, state);
		return -EIO;
	}
	if (opt) {
		/* SQLite keeps opt valid until the statement moves on or this column
		 * is read again as another type; neither has happened. */
		j->options = strdup((const char *)opt);
		if (!j->options)
			return -ENOMEM;
	}
	return 0;
}

/* Room for one more element: returns arr, a larger copy of it, or NULL (arr is then
 * untouched and still the caller's). */
static void *array_grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *tmp;

	if (n < *cap)
		return arr;
	ncap = *cap ? *cap * 2 : 16;
	tmp = reallocarray(arr, ncap, size);
	if (tmp)
		*cap = ncap;
	return tmp;
}

/* Every row of a JOB_COLS select into a heap array. */
static int read_jobs(struct store *s, sqlite3_stmt *st, struct job **out, size_t *n)
{
	struct job *arr = NULL, *tmp;
	size_t cnt = 0, cap = 0;
	int rc = 0, step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		tmp = array_grow(arr, &cap, cnt, sizeof(*arr));
		if (!tmp) {
			rc = -ENOMEM;
			goto out;
		}
		arr = tmp;
		job_init(&arr[cnt]);
		rc = row_to_job(st, &arr[cnt++]);
		if (rc < 0)
			goto out;
	}
	if (step != SQLITE_DONE)
		rc = store_err(s, "list jobs");
out:
	if (rc < 0) {
		store_jobs_free(arr, cnt);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

static int job_valid(const struct job *j)
{
	return j->id[0] && strnlen(j->id, sizeof(j->id)) < sizeof(j->id) &&
	       (unsigned)j->state <= JOB_CANCELLED && (unsigned)j->role <= JOB_DESTINATION;
}

/* The highest recorded version; ST_VERSION_GET is reset before returning. */
static int store_read_version(struct store *s, int *version)
{
	sqlite3_stmt *st = s->st[ST_VERSION_GET];
	int rc = 0;

	if (sqlite3_step(st) == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	else
		rc = store_err(s, "read schema version");
	stmt_done(st);
	return rc;
}

/* Apply, one transaction each, the migrations above the recorded version. */
static int store_migrate(struct store *s)
{
	const struct schema_migration *m;
	sqlite3_stmt *add = s->st[ST_VERSION_ADD];
	int rc, cur = 0, known = 0;
	char *err = NULL;

	for (m = schema_migrations; m->version; m++)
		known = m->version;
	rc = store_read_version(s, &cur);
	if (rc < 0)
		return rc;
	if (cur > known) {
		/* A newer hauld wrote this database; writing to it could corrupt it. */
		log_warnx("store: database schema version %d is newer than this hauld (%d)",
			  cur, known);
		return -EPROTO;
	}

	for (m = schema_migrations; m->version; m++) {
		rc = store_exec(s, ST_BEGIN);
		if (rc < 0)
			return rc;
		/* Read again inside the transaction: another process may have won. */
		rc = store_read_version(s, &cur);
		if (rc == 0 && cur < m->version) {
			if (sqlite3_exec(s->db, m->sql, NULL, NULL, &err) != SQLITE_OK) {
				log_warnx("store: migration %s: %s", m->name, err ? err : "failed");
				rc = -EIO;
			}
			sqlite3_free(err);
			err = NULL;
		}
		if (rc == 0 && cur < m->version) {
			sqlite3_bind_int(add, 1, m->version);
			sqlite3_bind_text(add, 2, m->name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(add, 3, time_now_ms());
			rc = store_run(s, add, "record migration");
			stmt_done(add);
		}
		if (rc == 0) {
			rc = store_exec(s, ST_COMMIT);
			if (rc == 0 && cur < m->version)
				log_info("store: applied migration %s", m->name);
		} else {
			/* SQLite may have rolled back already; then this fails harmlessly. */
			sqlite3_step(s->st[ST_ROLLBACK]);
			stmt_done(s->st[ST_ROLLBACK]);
		}
		if (rc < 0)
			return rc;
	}
	return store_read_version(s, &s->version);
}

int store_open(const char *path, struct store **out)
{
	struct store *s;
	char *err = NULL;
	int rc;

	if (!path || !out)
		return -EINVAL;
	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->event_limit = STORE_MAX_EVENTS_PER_JOB;
	pthread_mutex_init(&s->mu, NULL);

	/* NOMUTEX: s->mu already serialises every use of the connection. */
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		log_warnx("store: open %s: %s", path,
			  s->db ? sqlite3_errmsg(s->db) : "out of memory");
		rc = -EIO;
		goto fail;
	}
	sqlite3_busy_timeout(s->db, STORE_BUSY_MS);
	if (sqlite3_exec(s->db, store_setup_sql, NULL, NULL, &err) != SQLITE_OK) {
		log_warnx("store: set up %s: %s", path, err ? err : "failed");
		sqlite3_free(err);
		rc = -EIO;
		goto fail;
	}
	rc = store_prepare(s, 0, ST_N_BOOT);
	if (rc == 0)
		rc = store_migrate(s);
	if (rc == 0)
		rc = store_prepare(s, ST_N_BOOT, ST__COUNT);
	if (rc < 0)
		goto fail;
	*out = s;
	return 0;
fail:
	store_free(s);
	return rc;
}

void store_free(struct store *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	if (sqlite3_close(s->db) != SQLITE_OK)
		log_warnx("store: close: %s", sqlite3_errmsg(s->db));
	pthread_mutex_destroy(&s->mu);
	free(s);
}

int store_schema_version(struct store *s)
{
	return s ? s->version : -EINVAL;
}

/* Insert j and, when key is not NULL, its idempotency key in one transaction: a
 * crash cannot leave a started job whose key a retried POST would not find. */
int store_job_insert_keyed(struct store *s, struct job *j, const char *key, const char *hash)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !j || !job_valid(j) || (key && !hash))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (key) {
		rc = store_exec(s, ST_BEGIN);
		if (rc < 0)
			goto unlock;
	}
	st = s->st[ST_JOB_INSERT];
	if (bind_job(st, j) != SQLITE_OK)
		rc = store_err(s, "bind job");
	else
		rc = store_run(s, st, "insert job");
	if (rc == 0)
		j->seq = sqlite3_last_insert_rowid(s->db);
	stmt_done(st);
	if (key && rc == 0) {
		st = s->st[ST_IDEM_PUT];
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, hash, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, j->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, time_now_ms());
		rc = store_run(s, st, "insert idempotency key");
		stmt_done(st);
	}
	if (key) {
		if (rc == 0) {
			rc = store_exec(s, ST_COMMIT);
		} else {
			sqlite3_step(s->st[ST_ROLLBACK]);
			stmt_done(s->st[ST_ROLLBACK]);
		}
	}
unlock:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_job_insert(struct store *s, struct job *j)
{
	return store_job_insert_keyed(s, j, NULL, NULL);
}

static int job_update(struct store *s, const struct job *j, bool durable);

int store_job_update(struct store *s, const struct job *j)
{
	return job_update(s, j, false);
}

int store_job_update_durable(struct store *s, const struct job *j)
{
	return job_update(s, j, true);
}

/* durable: the write reaches the disk (the WAL is synced) before this returns, as
 * synchronous=FULL does, for this one write; the others stay at NORMAL, which a
 * crash of the daemon cannot undo, only a power loss. */
static int job_update(struct store *s, const struct job *j, bool durable)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !j || !job_valid(j))
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	if (durable && sqlite3_exec(s->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK) {
		rc = store_err(s, "synchronous full");
		pthread_mutex_unlock(&s->mu);
		return rc;
	}
	st = s->st[ST_JOB_UPDATE];
	if (bind_job(st, j) != SQLITE_OK) {
		rc = store_err(s, "bind job");
		goto out;
	}
	rc = store_run(s, st, "update job");
	if (rc == 0 && sqlite3_changes(s->db) == 0)
		rc = -ENOENT;
out:
	stmt_done(st);
	if (durable)
		sqlite3_exec(s->db, "PRAGMA synchronous = NORMAL", NULL, NULL, NULL);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_job_get(struct store *s, const char *id, struct job *out)
{
	sqlite3_stmt *st;
	int rc;

	if (!out)
		return -EINVAL;
	job_init(out);
	if (!s || !id)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_JOB_GET];
	bind_text(st, 1, id, JOB_ID_LEN);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		rc = row_to_job(st, out);
		break;
	case SQLITE_DONE:
		rc = -ENOENT;
		break;
	default:
		rc = store_err(s, "get job");
		break;
	}
	if (rc < 0) {
		job_release(out);
		job_init(out);
	}
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_job_list(struct store *s, int64_t before, int limit, struct job **out, size_t *n)
{
	return store_job_list_where(s, before, limit, NULL, NULL, out, n);
}

int store_job_list_where(struct store *s, int64_t before, int limit, const char *state,
			 const char *type, struct job **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	if (!out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	if (!s || limit < 1)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_JOB_LIST];
	sqlite3_bind_int64(st, 1, before > 0 ? before : INT64_MAX);
	sqlite3_bind_int(st, 2, limit);
	/* Unbound, a parameter is NULL: no filter on it. */
	if (state)
		bind_text(st, 3, state, 16);
	if (type)
		bind_text(st, 4, type, JOB_TYPE_LEN);
	rc = read_jobs(s, st, out, n);
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_job_list_unfinished(struct store *s, struct job **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	if (!out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_JOB_UNFINISHED];
	rc = read_jobs(s, st, out, n);
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

void store_jobs_free(struct job *jobs, size_t n)
{
	size_t i;

	if (!jobs)
		return;
	for (i = 0; i < n; i++)
		job_release(&jobs[i]);
	free(jobs);
}

int store_target_busy(struct store *s, const char *type, const char *target)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || !type || !target || !target[0])
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_TARGET_BUSY];
	sqlite3_bind_text(st, 1, type, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, target, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		rc = 1;
		break;
	case SQLITE_DONE:
		rc = 0;
		break;
	default:
		rc = store_err(s, "target busy");
		break;
	}
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_prune(struct store *s, int keep)
{
	sqlite3_stmt *st;
	int rc;

	if (!s || keep < 1)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_JOB_PRUNE];
	sqlite3_bind_int(st, 1, keep);
	rc = store_run(s, st, "prune jobs");
	if (rc == 0)
		rc = sqlite3_changes(s->db);
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_iter_add(struct store *s, const char *job_id, const struct job_iter *it)
{
	sqlite3_stmt *st;
	int rc, e = 0;

	if (!s || !job_id || !job_id[0] || !it || it->index < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_ITER_ADD];
	e |= bind_text(st, 1, job_id, JOB_ID_LEN);
	e |= sqlite3_bind_int(st, 2, it->index);
	e |= bind_text(st, 3, it->kind, sizeof(it->kind));
	e |= sqlite3_bind_int64(st, 4, it->frozen_ms);
	e |= sqlite3_bind_int64(st, 5, it->memdump_ms);
	e |= sqlite3_bind_int64(st, 6, it->memwrite_ms);
	e |= sqlite3_bind_int64(st, 7, it->pages_scanned);
	e |= sqlite3_bind_int64(st, 8, it->pages_skipped);
	e |= sqlite3_bind_int64(st, 9, it->pages_written);
	e |= sqlite3_bind_int64(st, 10, it->bytes);
	e |= sqlite3_bind_int64(st, 11, it->duration_ms);
	rc = e ? store_err(s, "bind iteration") : store_run(s, st, "add iteration");
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_iter_list(struct store *s, const char *job_id, struct job_iter **out, size_t *n)
{
	struct job_iter *arr = NULL, *tmp, *it;
	size_t cnt = 0, cap = 0;
	sqlite3_stmt *st;
	int rc = 0, step;

	if (!out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	if (!s || !job_id)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_ITER_LIST];
	bind_text(st, 1, job_id, JOB_ID_LEN);
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		tmp = array_grow(arr, &cap, cnt, sizeof(*arr));
		if (!tmp) {
			rc = -ENOMEM;
			goto out;
		}
		arr = tmp;
		it = &arr[cnt++];
		it->index = sqlite3_column_int(st, 0);
		col_text(st, 1, it->kind, sizeof(it->kind));
		it->frozen_ms = sqlite3_column_int64(st, 2);
		it->memdump_ms = sqlite3_column_int64(st, 3);
		it->memwrite_ms = sqlite3_column_int64(st, 4);
		it->pages_scanned = sqlite3_column_int64(st, 5);
		it->pages_skipped = sqlite3_column_int64(st, 6);
		it->pages_written = sqlite3_column_int64(st, 7);
		it->bytes = sqlite3_column_int64(st, 8);
		it->duration_ms = sqlite3_column_int64(st, 9);
	}
	if (step != SQLITE_DONE)
		rc = store_err(s, "list iterations");
out:
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		free(arr);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

static int level_valid(const char *level)
{
	return strcmp(level, "info") == 0 || strcmp(level, "warn") == 0 ||
	       strcmp(level, "error") == 0;
}

int store_event_add(struct store *s, struct job_event *ev)
{
	void (*hook)(void *ctx, int64_t id);
	void *hook_ctx;
	sqlite3_stmt *st;
	bool marker = false;
	int64_t ts;
	int rc, e = 0;

	if (!s || !ev || !ev->job_id[0] || !memchr(ev->level, '\0', sizeof(ev->level)) ||
	    !level_valid(ev->level))
		return -EINVAL;
	ts = ev->ts ? ev->ts : time_now_ms();
	pthread_mutex_lock(&s->mu);
	if (strcmp(ev->kind, "state") != 0) {
		int64_t n = 0;

		st = s->st[ST_EVENT_COUNT];
		if (bind_text(st, 1, ev->job_id, sizeof(ev->job_id)) == SQLITE_OK &&
		    sqlite3_bind_int64(st, 2, s->event_limit + 1) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		stmt_done(st);
		if (n > s->event_limit) {
			pthread_mutex_unlock(&s->mu);
			return -ENOSPC;
		}
		if (n == s->event_limit) {
			/* The one past the bound says so, in place of what it was. */
			snprintf(ev->level, sizeof(ev->level), "warn");
			snprintf(ev->kind, sizeof(ev->kind), "log");
			snprintf(ev->message, sizeof(ev->message), "this job has %d events: "
				 "only its state changes are kept from now on", s->event_limit);
			marker = true;
		}
	}
	st = s->st[ST_EVENT_ADD];
	e |= bind_text(st, 1, ev->job_id, sizeof(ev->job_id));
	e |= sqlite3_bind_int64(st, 2, ts);
	e |= bind_text(st, 3, ev->level, sizeof(ev->level));
	e |= bind_text(st, 4, ev->phase, sizeof(ev->phase));
	e |= bind_text(st, 5, ev->message, sizeof(ev->message));
	e |= bind_text(st, 6, ev->state, sizeof(ev->state));
	e |= bind_text(st, 7, ev->kind[0] ? ev->kind : "log", sizeof(ev->kind));
	if (ev->data && !marker)
		e |= sqlite3_bind_text(st, 8, ev->data, -1, SQLITE_STATIC);
	else
		e |= sqlite3_bind_null(st, 8);
	rc = e ? store_err(s, "bind event") : store_run(s, st, "add event");
	if (rc == 0) {
		ev->id = sqlite3_last_insert_rowid(s->db);
		ev->ts = ts;
	}
	stmt_done(st);
	hook = s->event_hook;
	hook_ctx = s->event_ctx;
	pthread_mutex_unlock(&s->mu);
	if (rc == 0 && hook)
		hook(hook_ctx, ev->id);
	return rc;
}

void store_set_event_limit(struct store *s, int limit)
{
	if (s && limit >= 1)
		s->event_limit = limit;
}

void store_set_event_hook(struct store *s, void (*fn)(void *ctx, int64_t id), void *ctx)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->mu);
	s->event_hook = fn;
	s->event_ctx = ctx;
	pthread_mutex_unlock(&s->mu);
}

/* Rows of an events statement (bound by the caller) into a heap array. Under s->mu. */
static int events_collect(struct store *s, sqlite3_stmt *st, struct job_event **out, size_t *n)
{
	struct job_event *arr = NULL, *tmp, *ev;
	size_t cnt = 0, cap = 0;
	int rc = 0, step;

	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		tmp = array_grow(arr, &cap, cnt, sizeof(*arr));
		if (!tmp) {
			rc = -ENOMEM;
			break;
		}
		arr = tmp;
		ev = &arr[cnt++];
		ev->id = sqlite3_column_int64(st, 0);
		col_text(st, 1, ev->job_id, sizeof(ev->job_id));
		ev->ts = sqlite3_column_int64(st, 2);
		col_text(st, 3, ev->level, sizeof(ev->level));
		col_text(st, 4, ev->phase, sizeof(ev->phase));
		col_text(st, 5, ev->message, sizeof(ev->message));
		col_text(st, 6, ev->state, sizeof(ev->state));
		col_text(st, 7, ev->kind, sizeof(ev->kind));
		ev->data = NULL;
		if (sqlite3_column_type(st, 8) == SQLITE_TEXT) {
			ev->data = strdup((const char *)sqlite3_column_text(st, 8));
			if (!ev->data) {
				cnt--;
				rc = -ENOMEM;
				break;
			}
		}
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = store_err(s, "list events");
	stmt_done(st);
	if (rc < 0) {
		store_events_free(arr, cnt);
		return rc;
	}
	*out = arr;
	*n = cnt;
	return 0;
}

void store_events_free(struct job_event *evs, size_t n)
{
	for (size_t i = 0; evs && i < n; i++)
		free(evs[i].data);
	free(evs);
}

int store_event_list(struct store *s, const char *job_id, int64_t after, int limit,
		     struct job_event **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	if (!out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	if (!s || !job_id || limit < 1)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_EVENT_LIST];
	bind_text(st, 1, job_id, JOB_ID_LEN);
	sqlite3_bind_int64(st, 2, after);
	sqlite3_bind_int(st, 3, limit);
	rc = events_collect(s, st, out, n);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_event_since(struct store *s, int64_t after, const char *job_id, int limit,
		      struct job_event **out, size_t *n)
{
	sqlite3_stmt *st;
	int rc;

	if (!out || !n)
		return -EINVAL;
	*out = NULL;
	*n = 0;
	if (!s || limit < 1)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_EVENT_ALL];
	sqlite3_bind_int64(st, 1, after);
	bind_text(st, 2, job_id ? job_id : "", JOB_ID_LEN);
	sqlite3_bind_int(st, 3, limit);
	rc = events_collect(s, st, out, n);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int64_t store_event_last(struct store *s)
{
	sqlite3_stmt *st;
	int64_t id = -EIO;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_EVENT_LAST];
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return id;
}

int store_idem_get(struct store *s, const char *key, char *hash, size_t hlen, char *job_id)
{
	sqlite3_stmt *st;
	int rc = -ENOENT;

	if (!s || !key || !hash || !job_id)
		return -EINVAL;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_IDEM_GET];
	sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
	switch (sqlite3_step(st)) {
	case SQLITE_ROW:
		col_text(st, 0, hash, hlen);
		col_text(st, 1, job_id, JOB_ID_LEN);
		rc = 0;
		break;
	case SQLITE_DONE:
		break;
	default:
		rc = store_err(s, "idempotency key");
		break;
	}
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}

int store_webhook_pending(struct store *s, int max, char (**ids)[JOB_ID_LEN], size_t *n)
{
	char (*arr)[JOB_ID_LEN];
	sqlite3_stmt *st;
	size_t cnt = 0;
	int rc = 0, step;

	if (!s || !ids || !n || max < 1)
		return -EINVAL;
	*ids = NULL;
	*n = 0;
	arr = calloc((size_t)max, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_WEBHOOK_PENDING];
	sqlite3_bind_int(st, 1, max);
	while ((step = sqlite3_step(st)) == SQLITE_ROW && cnt < (size_t)max)
		col_text(st, 0, arr[cnt++], JOB_ID_LEN);
	if (step != SQLITE_DONE && step != SQLITE_ROW)
		rc = store_err(s, "pending webhooks");
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	if (rc < 0) {
		free(arr);
		return rc;
	}
	*ids = arr;
	*n = cnt;
	return 0;
}

int store_job_counts(struct store *s, int counts[2][2])
{
	sqlite3_stmt *st;
	char role[16], state[16];
	int rc = 0, step;

	if (!s || !counts)
		return -EINVAL;
	memset(counts, 0, sizeof(int[2][2]));
	pthread_mutex_lock(&s->mu);
	st = s->st[ST_JOB_COUNTS];
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		enum job_role r;

		col_text(st, 0, role, sizeof(role));
		col_text(st, 1, state, sizeof(state));
		if (role_parse(role, &r) < 0)
			continue;
		counts[r == JOB_SOURCE ? 0 : 1][strcmp(state, "running") == 0 ? 1 : 0] +=
			sqlite3_column_int(st, 2);
	}
	if (step != SQLITE_DONE)
		rc = store_err(s, "count jobs");
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return rc;
}
