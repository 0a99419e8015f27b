/* test_store.c: the SQLite store, checked against a real database file. The test
 * reads the file with its own sqlite3 connection where it must see the real rows. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "schema.h"
#include "store.h"
#include "util.h"

static char tmpdir[64];
static char dbpath[128];

static void setup(void)
{
	strcpy(tmpdir, "/tmp/hauld-test-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(dbpath, sizeof(dbpath), "%s/hauld.db", tmpdir);
}

static void teardown(void)
{
	char p[160];

	/* WAL mode leaves these beside the database. */
	snprintf(p, sizeof(p), "%s-wal", dbpath);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", dbpath);
	unlink(p);
	unlink(dbpath);
	rmdir(tmpdir);
}

static struct store *open_store(void)
{
	struct store *s = NULL;

	ck_assert_int_eq(store_open(dbpath, &s), 0);
	ck_assert_ptr_nonnull(s);
	return s;
}

/* Run one query returning one integer on a separate connection. */
static int64_t query_int(const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -999;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void exec_sql(const char *sql)
{
	sqlite3 *db = NULL;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static int last_migration(int *count)
{
	const struct schema_migration *m;
	int v = 0;

	*count = 0;
	for (m = schema_migrations; m->version; m++, (*count)++)
		v = m->version;
	return v;
}

static void make_job(struct job *j, int n, enum job_state state, int pid)
{
	job_init(j);
	snprintf(j->id, sizeof(j->id), "00000000-0000-4000-8000-%012d", n);
	strcpy(j->type, "pid");
	j->pid = pid;
	snprintf(j->target, sizeof(j->target), "%d", pid);
	strcpy(j->to, "127.0.0.1:7070");
	strcpy(j->mode, "live");
	j->state = state;
	strcpy(j->phase, "queued");
	j->created_at = 1795645784000 + n;
}

START_TEST(test_bad_args)
{
	struct store *s = (struct store *)1;
	struct job j, *jobs = (struct job *)1;
	struct job_iter it, *iters = (struct job_iter *)1;
	struct job_event ev, *evs = (struct job_event *)1;
	size_t n = 99;

	ck_assert_int_eq(store_open(NULL, &s), -EINVAL);
	ck_assert_int_eq(store_open(dbpath, NULL), -EINVAL);
	ck_assert_int_eq(store_open("/nonexistent-dir/x/hauld.db", &s), -EIO);
	ck_assert_ptr_null(s);
	store_free(NULL);
	store_jobs_free(NULL, 0);
	ck_assert_int_lt(store_schema_version(NULL), 0);

	make_job(&j, 1, JOB_QUEUED, 10);
	memset(&it, 0, sizeof(it));
	memset(&ev, 0, sizeof(ev));
	ck_assert_int_eq(store_job_insert(NULL, &j), -EINVAL);
	ck_assert_int_eq(store_job_update(NULL, &j), -EINVAL);
	ck_assert_int_eq(store_job_get(NULL, j.id, &j), -EINVAL);
	ck_assert_int_eq(store_job_list(NULL, 0, 10, &jobs, &n), -EINVAL);
	ck_assert_ptr_null(jobs);
	ck_assert_uint_eq(n, 0);
	ck_assert_int_eq(store_job_list_unfinished(NULL, &jobs, &n), -EINVAL);
	ck_assert_int_eq(store_target_busy(NULL, "pid", "10"), -EINVAL);
	ck_assert_int_eq(store_iter_add(NULL, j.id, &it), -EINVAL);
	ck_assert_int_eq(store_iter_list(NULL, j.id, &iters, &n), -EINVAL);
	ck_assert_ptr_null(iters);
	ck_assert_int_eq(store_event_add(NULL, &ev), -EINVAL);
	ck_assert_int_eq(store_event_list(NULL, j.id, 0, 10, &evs, &n), -EINVAL);
	ck_assert_ptr_null(evs);

	s = open_store();
	ck_assert_int_eq(store_job_insert(s, NULL), -EINVAL);
	ck_assert_int_eq(store_job_get(s, NULL, &j), -EINVAL);
	ck_assert_int_eq(store_job_get(s, j.id, NULL), -EINVAL);
	ck_assert_int_eq(store_job_list(s, 0, 0, &jobs, &n), -EINVAL);
	ck_assert_int_eq(store_job_list(s, 0, -1, &jobs, &n), -EINVAL);
	ck_assert_int_eq(store_job_list(s, 0, 1, NULL, &n), -EINVAL);
	ck_assert_int_eq(store_job_list_unfinished(s, &jobs, NULL), -EINVAL);
	ck_assert_int_eq(store_target_busy(s, "pid", ""), -EINVAL);
	ck_assert_int_eq(store_target_busy(s, NULL, "5"), -EINVAL);
	ck_assert_int_eq(store_target_busy(s, "pid", NULL), -EINVAL);
	ck_assert_int_eq(store_iter_add(s, NULL, &it), -EINVAL);
	ck_assert_int_eq(store_iter_add(s, "", &it), -EINVAL);
	ck_assert_int_eq(store_iter_add(s, j.id, NULL), -EINVAL);
	ck_assert_int_eq(store_event_list(s, j.id, 0, 0, &evs, &n), -EINVAL);

	/* Invalid jobs are refused before SQLite sees them. */
	j.id[0] = '\0';
	ck_assert_int_eq(store_job_insert(s, &j), -EINVAL);
	make_job(&j, 1, (enum job_state)42, 10);
	ck_assert_int_eq(store_job_insert(s, &j), -EINVAL);
	make_job(&j, 1, JOB_QUEUED, 10);
	j.role = (enum job_role)9;
	ck_assert_int_eq(store_job_update(s, &j), -EINVAL);
	memset(j.id, 'a', sizeof(j.id));
	ck_assert_int_eq(store_job_insert(s, &j), -EINVAL);
	ck_assert_int_eq(query_int("SELECT COUNT(*) FROM jobs"), 0);
	store_free(s);
}
END_TEST

START_TEST(test_migrations_once)
{
	struct store *s;
	int count, want = last_migration(&count);

	ck_assert_int_gt(want, 0);
	s = open_store();
	ck_assert_int_eq(store_schema_version(s), want);
	store_free(s);
	/* A second open must find everything applied: re-running 001 would fail on
	 * CREATE TABLE, and schema_version would get a second row. */
	s = open_store();
	ck_assert_int_eq(store_schema_version(s), want);
	store_free(s);
	ck_assert_int_eq(query_int("SELECT COUNT(*) FROM schema_version"), count);
	ck_assert_int_eq(query_int("SELECT MAX(version) FROM schema_version"), want);
	/* journal_mode is persistent in the file; the others are per connection. */
	ck_assert_int_eq(query_int("SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
}
END_TEST

START_TEST(test_newer_schema_refused)
{
	struct store *s = open_store();

	store_free(s);
	exec_sql("INSERT INTO schema_version VALUES (9999, '9999_future', 0)");
	s = (struct store *)1;
	ck_assert_int_eq(store_open(dbpath, &s), -EPROTO);
	ck_assert_ptr_null(s);
}
END_TEST

START_TEST(test_job_roundtrip)
{
	struct store *s = open_store();
	struct job j, g;

	make_job(&j, 1, JOB_RUNNING, 321);
	j.role = JOB_DESTINATION;
	strcpy(j.strategy, "iterative");
	j.options = strdup("{\"iterations\":2}");
	j.started_at = 1795645785000;
	j.stats.bytes = 123456789012;
	j.stats.bytes_raw = 223456789012;
	strcpy(j.stats.compression, "zstd");
	strcpy(j.stats.restore_pages, "lazy");
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	ck_assert_int_eq(j.seq, 1);
	ck_assert_int_eq(store_job_insert(s, &j), -EEXIST);

	ck_assert_int_eq(store_job_get(s, j.id, &g), 0);
	ck_assert_int_eq(g.seq, 1);
	ck_assert_str_eq(g.id, j.id);
	ck_assert_str_eq(g.type, "pid");
	ck_assert_int_eq(g.role, JOB_DESTINATION);
	ck_assert_int_eq(g.pid, 321);
	ck_assert_str_eq(g.to, "127.0.0.1:7070");
	ck_assert_str_eq(g.mode, "live");
	ck_assert_str_eq(g.strategy, "iterative");
	ck_assert_str_eq(g.options, "{\"iterations\":2}");
	ck_assert_int_eq(g.state, JOB_RUNNING);
	ck_assert_int_eq(g.created_at, j.created_at);
	ck_assert_int_eq(g.started_at, 1795645785000);
	ck_assert_int_eq(g.finished_at, 0);
	ck_assert_str_eq(g.err_code, "");
	ck_assert_int_eq(g.stats.bytes, 123456789012);
	ck_assert_int_eq(g.stats.bytes_raw, 223456789012);
	ck_assert_str_eq(g.stats.compression, "zstd");
	ck_assert_str_eq(g.stats.restore_pages, "lazy");
	ck_assert_int_eq(g.stats.restore_ms, -1);
	job_release(&g);

	/* Update every mutable field, including clearing options. */
	j.state = JOB_FAILED;
	strcpy(j.phase, "restore");
	j.finished_at = 1795645786000;
	j.result_pid = 99;
	strcpy(j.err_code, "restore_failed");
	strcpy(j.err_msg, "criu restore: exit 1");
	strcpy(j.err_phase, "restore");
	strcpy(j.err_where, "source");
	j.stats.downtime_ms = 150;
	j.stats.restore_ms = 70;
	free(j.options);
	j.options = NULL;
	ck_assert_int_eq(store_job_update(s, &j), 0);
	ck_assert_int_eq(store_job_get(s, j.id, &g), 0);
	ck_assert_int_eq(g.state, JOB_FAILED);
	ck_assert_str_eq(g.phase, "restore");
	ck_assert_int_eq(g.finished_at, 1795645786000);
	ck_assert_int_eq(g.result_pid, 99);
	ck_assert_str_eq(g.err_code, "restore_failed");
	ck_assert_str_eq(g.err_msg, "criu restore: exit 1");
	ck_assert_str_eq(g.err_where, "source");
	ck_assert_int_eq(g.stats.downtime_ms, 150);
	ck_assert_int_eq(g.stats.restore_ms, 70);
	ck_assert_ptr_null(g.options);
	job_release(&g);
	ck_assert_int_eq(query_int("SELECT COUNT(*) FROM jobs WHERE state = 'failed'"), 1);

	ck_assert_int_eq(store_job_get(s, "no-such-job", &g), -ENOENT);
	ck_assert_str_eq(g.id, "");
	make_job(&j, 2, JOB_QUEUED, 5);
	ck_assert_int_eq(store_job_update(s, &j), -ENOENT);
	ck_assert_int_eq(query_int("SELECT COUNT(*) FROM jobs"), 1);
	store_free(s);
}
END_TEST

START_TEST(test_reopen_persists)
{
	struct store *s = open_store();
	struct job_event ev;
	struct job_iter it;
	struct job j, g, *jobs;
	size_t n;

	make_job(&j, 7, JOB_SUCCEEDED, 77);
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	memset(&it, 0, sizeof(it));
	strcpy(it.kind, "dump");
	it.bytes = 4096;
	ck_assert_int_eq(store_iter_add(s, j.id, &it), 0);
	memset(&ev, 0, sizeof(ev));
	strcpy(ev.job_id, j.id);
	strcpy(ev.level, "info");
	strcpy(ev.message, "done");
	ck_assert_int_eq(store_event_add(s, &ev), 0);
	store_free(s);

	s = open_store();
	ck_assert_int_eq(store_job_get(s, j.id, &g), 0);
	ck_assert_int_eq(g.state, JOB_SUCCEEDED);
	ck_assert_int_eq(g.pid, 77);
	job_release(&g);
	ck_assert_int_eq(store_job_list(s, 0, 10, &jobs, &n), 0);
	ck_assert_uint_eq(n, 1);
	store_jobs_free(jobs, n);
	/* AUTOINCREMENT: a new job after reopen continues the sequence. */
	make_job(&j, 8, JOB_QUEUED, 78);
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	ck_assert_int_eq(j.seq, 2);
	store_free(s);
}
END_TEST

START_TEST(test_list_paging)
{
	struct store *s = open_store();
	struct job j, *jobs;
	size_t n;
	int i;

	ck_assert_int_eq(store_job_list(s, 0, 10, &jobs, &n), 0);
	ck_assert_ptr_null(jobs);
	ck_assert_uint_eq(n, 0);
	for (i = 1; i <= 5; i++) {
		make_job(&j, i, JOB_SUCCEEDED, 100 + i);
		j.options = strdup("{}");
		ck_assert_int_eq(store_job_insert(s, &j), 0);
		ck_assert_int_eq(j.seq, i);
		job_release(&j);
	}
	ck_assert_int_eq(store_job_list(s, 0, 2, &jobs, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(jobs[0].seq, 5);
	ck_assert_int_eq(jobs[1].seq, 4);
	ck_assert_int_eq(jobs[1].pid, 104);
	ck_assert_str_eq(jobs[0].options, "{}");
	store_jobs_free(jobs, n);

	ck_assert_int_eq(store_job_list(s, 4, 2, &jobs, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(jobs[0].seq, 3);
	ck_assert_int_eq(jobs[1].seq, 2);
	store_jobs_free(jobs, n);

	ck_assert_int_eq(store_job_list(s, 2, 100, &jobs, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(jobs[0].seq, 1);
	store_jobs_free(jobs, n);

	ck_assert_int_eq(store_job_list(s, 1, 100, &jobs, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(jobs);

	/* Negative before means from the newest, like 0. */
	ck_assert_int_eq(store_job_list(s, -3, 100, &jobs, &n), 0);
	ck_assert_uint_eq(n, 5);
	ck_assert_int_eq(jobs[0].seq, 5);
	store_jobs_free(jobs, n);
	store_free(s);
}
END_TEST

/* store_target_busy for a pid. */
static int busy(struct store *s, int pid)
{
	char t[16];

	snprintf(t, sizeof(t), "%d", pid);
	return store_target_busy(s, "pid", t);
}

START_TEST(test_unfinished_and_busy)
{
	static const enum job_state states[] = {
		JOB_SUCCEEDED, JOB_RUNNING, JOB_FAILED, JOB_QUEUED, JOB_CANCELLED, JOB_RUNNING,
	};
	struct store *s = open_store();
	struct job j, *jobs;
	size_t n, i;

	ck_assert_int_eq(store_job_list_unfinished(s, &jobs, &n), 0);
	ck_assert_uint_eq(n, 0);
	for (i = 0; i < ARRAY_SIZE(states); i++) {
		make_job(&j, (int)i + 1, states[i], 200 + (int)i);
		ck_assert_int_eq(store_job_insert(s, &j), 0);
	}
	ck_assert_int_eq(store_job_list_unfinished(s, &jobs, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_int_eq(jobs[0].seq, 2);
	ck_assert_int_eq(jobs[0].state, JOB_RUNNING);
	ck_assert_int_eq(jobs[1].seq, 4);
	ck_assert_int_eq(jobs[1].state, JOB_QUEUED);
	ck_assert_int_eq(jobs[2].seq, 6);
	store_jobs_free(jobs, n);

	ck_assert_int_eq(busy(s, 201), 1);   /* running source */
	ck_assert_int_eq(busy(s, 203), 1);   /* queued source */
	ck_assert_int_eq(busy(s, 200), 0);   /* succeeded */
	ck_assert_int_eq(busy(s, 202), 0);   /* failed */
	ck_assert_int_eq(busy(s, 999), 0);   /* never seen */

	/* A destination job's pid is the source host's pid: it does not busy ours. */
	make_job(&j, 50, JOB_RUNNING, 500);
	j.role = JOB_DESTINATION;
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	ck_assert_int_eq(busy(s, 500), 0);

	/* Finishing the job frees the pid. */
	make_job(&j, 2, JOB_SUCCEEDED, 201);
	ck_assert_int_eq(store_job_update(s, &j), 0);
	ck_assert_int_eq(busy(s, 201), 0);
	/* The command line shown for a pid job comes back as stored. */
	strcpy(j.command, "/usr/bin/redis-server *:6379");
	ck_assert_int_eq(store_job_update(s, &j), 0);
	job_release(&j);
	ck_assert_int_eq(store_job_get(s, "00000000-0000-4000-8000-000000000002", &j), 0);
	ck_assert_str_eq(j.command, "/usr/bin/redis-server *:6379");
	job_release(&j);

	/* A container is busy by type and id; its fields come back as stored. */
	make_job(&j, 60, JOB_RUNNING, 4242);
	strcpy(j.type, "docker");
	strcpy(j.target, "4aa78b8cf00d");
	strcpy(j.container_id, "4aa78b8cf00d");
	strcpy(j.container_name, "web1");
	strcpy(j.result_container, "77bb");
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	ck_assert_int_eq(store_target_busy(s, "docker", "4aa78b8cf00d"), 1);
	ck_assert_int_eq(store_target_busy(s, "podman", "4aa78b8cf00d"), 0);
	ck_assert_int_eq(busy(s, 4242), 0);
	job_release(&j);
	ck_assert_int_eq(store_job_get(s, "00000000-0000-4000-8000-000000000060", &j), 0);
	ck_assert_str_eq(j.container_id, "4aa78b8cf00d");
	ck_assert_str_eq(j.container_name, "web1");
	ck_assert_str_eq(j.result_container, "77bb");
	job_release(&j);
	store_free(s);
}
END_TEST

START_TEST(test_iterations)
{
	struct store *s = open_store();
	struct job_iter it, *its;
	struct job j;
	size_t n;

	make_job(&j, 1, JOB_RUNNING, 10);
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	ck_assert_int_eq(store_iter_list(s, j.id, &its, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(its);

	memset(&it, 0, sizeof(it));
	it.index = 1;
	strcpy(it.kind, "dump");
	it.frozen_ms = 12;
	it.memdump_ms = -1;
	it.pages_written = 300;
	it.bytes = 1228800;
	it.duration_ms = 40;
	ck_assert_int_eq(store_iter_add(s, j.id, &it), 0);
	it.index = 0;
	strcpy(it.kind, "pre-dump");
	it.pages_scanned = 5000;
	ck_assert_int_eq(store_iter_add(s, j.id, &it), 0);
	ck_assert_int_eq(store_iter_add(s, j.id, &it), -EEXIST);
	ck_assert_int_eq(store_iter_add(s, "no-such-job", &it), -ENOENT);
	it.index = -1;
	ck_assert_int_eq(store_iter_add(s, j.id, &it), -EINVAL);

	ck_assert_int_eq(store_iter_list(s, j.id, &its, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(its[0].index, 0);
	ck_assert_str_eq(its[0].kind, "pre-dump");
	ck_assert_int_eq(its[0].pages_scanned, 5000);
	ck_assert_int_eq(its[1].index, 1);
	ck_assert_str_eq(its[1].kind, "dump");
	ck_assert_int_eq(its[1].frozen_ms, 12);
	ck_assert_int_eq(its[1].memdump_ms, -1);
	ck_assert_int_eq(its[1].pages_written, 300);
	ck_assert_int_eq(its[1].bytes, 1228800);
	ck_assert_int_eq(its[1].duration_ms, 40);
	free(its);
	store_free(s);
}
END_TEST

START_TEST(test_prune)
{
	static const enum job_state states[] = {
		JOB_SUCCEEDED, JOB_FAILED, JOB_RUNNING, JOB_CANCELLED, JOB_QUEUED,
		JOB_SUCCEEDED, JOB_FAILED,
	};
	struct store *s = open_store();
	struct job_event ev;
	struct job_iter it;
	struct job j;
	size_t i;

	ck_assert_int_eq(store_prune(s, 0), -EINVAL);
	ck_assert_int_eq(store_prune(NULL, 3), -EINVAL);
	ck_assert_int_eq(store_prune(s, 3), 0);             /* an empty store */
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		make_job(&j, (int)i + 1, states[i], 100 + (int)i);
		ck_assert_int_eq(store_job_insert(s, &j), 0);
		memset(&ev, 0, sizeof(ev));
		snprintf(ev.job_id, sizeof(ev.job_id), "%s", j.id);
		strcpy(ev.level, "info");
		strcpy(ev.message, "hello");
		ck_assert_int_eq(store_event_add(s, &ev), 0);
		memset(&it, 0, sizeof(it));
		strcpy(it.kind, "dump");
		ck_assert_int_eq(store_iter_add(s, j.id, &it), 0);
	}
	/* Five finished (1, 2, 4, 6, 7), two in flight (3, 5). Keeping 10 or 5 removes
	 * nothing; keeping 3 removes the two oldest finished, 1 and 2. */
	ck_assert_int_eq(store_prune(s, 10), 0);
	ck_assert_int_eq(store_prune(s, 5), 0);
	ck_assert_int_eq(store_prune(s, 3), 2);
	ck_assert_int_eq(store_job_get(s, "00000000-0000-4000-8000-000000000001", &j), -ENOENT);
	ck_assert_int_eq(store_job_get(s, "00000000-0000-4000-8000-000000000002", &j), -ENOENT);
	ck_assert_int_eq(query_int("SELECT count(*) FROM jobs"), 5);
	ck_assert_int_eq(query_int("SELECT count(*) FROM events WHERE job_id LIKE '%00001'"
				   " OR job_id LIKE '%00002'"), 0);
	ck_assert_int_eq(query_int("SELECT count(*) FROM job_iterations"), 5);
	/* Keeping 1 leaves the newest finished and every job in flight. */
	ck_assert_int_eq(store_prune(s, 1), 2);
	ck_assert_int_eq(query_int("SELECT count(*) FROM jobs WHERE pid IN (102, 104, 106)"), 3);
	ck_assert_int_eq(query_int("SELECT count(*) FROM jobs"), 3);
	ck_assert_int_eq(query_int("SELECT count(*) FROM events"), 3);
	store_free(s);
}
END_TEST

/* A job keeps at most its limit of events (STORE_MAX_EVENTS_PER_JOB, 50 here): the next becomes a warning
 * that says so, later ones are refused, and state changes are always kept. */
START_TEST(test_events_bounded)
{
	struct store *s = open_store();
	struct job_event ev, *evs;
	struct job j;
	int64_t last = 0;
	size_t n;
	int i;

	store_set_event_limit(s, 50);
	make_job(&j, 1, JOB_RUNNING, 10);
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	for (i = 0; i < 50; i++) {
		memset(&ev, 0, sizeof(ev));
		strcpy(ev.job_id, j.id);
		strcpy(ev.level, "info");
		strcpy(ev.kind, "progress");
		snprintf(ev.message, sizeof(ev.message), "progress %d", i);
		ck_assert_int_eq(store_event_add(s, &ev), 0);
		last = ev.id;
	}
	memset(&ev, 0, sizeof(ev));
	strcpy(ev.job_id, j.id);
	strcpy(ev.level, "info");
	strcpy(ev.kind, "progress");
	strcpy(ev.message, "one too many");
	ev.data = "{\"lazy_pages_left\": 1}";
	ck_assert_int_eq(store_event_add(s, &ev), 0);
	strcpy(ev.message, "two too many");
	ck_assert_int_eq(store_event_add(s, &ev), -ENOSPC);
	memset(&ev, 0, sizeof(ev));
	strcpy(ev.job_id, j.id);
	strcpy(ev.level, "info");
	strcpy(ev.kind, "state");
	strcpy(ev.message, "succeeded");
	ck_assert_int_eq(store_event_add(s, &ev), 0);

	ck_assert_int_eq(store_event_list(s, j.id, last, 100, &evs, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(evs[0].level, "warn");
	ck_assert_str_eq(evs[0].kind, "log");
	ck_assert_ptr_null(evs[0].data);
	ck_assert_ptr_nonnull(strstr(evs[0].message, "only its state changes are kept"));
	ck_assert_str_eq(evs[1].kind, "state");
	ck_assert_str_eq(evs[1].message, "succeeded");
	store_events_free(evs, n);
	store_free(s);
}
END_TEST

START_TEST(test_events)
{
	struct store *s = open_store();
	struct job_event ev, *evs;
	struct job j, other;
	int64_t ids[5];
	size_t n;
	int i;

	make_job(&j, 1, JOB_RUNNING, 10);
	make_job(&other, 2, JOB_RUNNING, 11);
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	ck_assert_int_eq(store_job_insert(s, &other), 0);
	for (i = 0; i < 5; i++) {
		memset(&ev, 0, sizeof(ev));
		strcpy(ev.job_id, i == 2 ? other.id : j.id);
		strcpy(ev.level, i == 4 ? "error" : "info");
		strcpy(ev.phase, "predump");
		snprintf(ev.message, sizeof(ev.message), "event %d", i);
		if (i == 3)
			ev.ts = 1795645784000;
		ck_assert_int_eq(store_event_add(s, &ev), 0);
		ck_assert_int_gt(ev.id, i ? ids[i - 1] : 0);
		ck_assert_int_gt(ev.ts, 0);
		if (i == 3)
			ck_assert_int_eq(ev.ts, 1795645784000);
		ids[i] = ev.id;
	}

	ck_assert_int_eq(store_event_list(s, j.id, 0, 100, &evs, &n), 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_int_eq(evs[0].id, ids[0]);
	ck_assert_str_eq(evs[1].message, "event 1");
	ck_assert_int_eq(evs[2].id, ids[3]);
	ck_assert_int_eq(evs[2].ts, 1795645784000);
	ck_assert_str_eq(evs[3].level, "error");
	ck_assert_str_eq(evs[3].phase, "predump");
	ck_assert_str_eq(evs[3].job_id, j.id);
	free(evs);

	ck_assert_int_eq(store_event_list(s, j.id, ids[0], 2, &evs, &n), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(evs[0].id, ids[1]);
	ck_assert_int_eq(evs[1].id, ids[3]);
	free(evs);

	ck_assert_int_eq(store_event_list(s, j.id, ids[4], 10, &evs, &n), 0);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(evs);

	memset(&ev, 0, sizeof(ev));
	strcpy(ev.job_id, j.id);
	strcpy(ev.level, "fatal");
	ck_assert_int_eq(store_event_add(s, &ev), -EINVAL);
	memset(ev.level, 'x', sizeof(ev.level));
	ck_assert_int_eq(store_event_add(s, &ev), -EINVAL);
	strcpy(ev.level, "warn");
	strcpy(ev.job_id, "no-such-job");
	ck_assert_int_eq(store_event_add(s, &ev), -ENOENT);
	ev.job_id[0] = '\0';
	ck_assert_int_eq(store_event_add(s, &ev), -EINVAL);
	ck_assert_int_eq(query_int("SELECT COUNT(*) FROM events"), 5);
	store_free(s);
}
END_TEST

START_TEST(test_long_text_cut_safely)
{
	struct store *s = open_store();
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	char big[700];
	struct job j, g;
	json_t *o;
	int i;

	make_job(&j, 1, JOB_FAILED, 10);
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	/* 300 two-byte characters: byte 511 is the middle of one. */
	for (i = 0; i < 300; i++)
		memcpy(big + 2 * i, "\xc3\xa9", 2);
	big[600] = '\0';
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "UPDATE jobs SET err_code = 'x', err_msg = ?1",
					    -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_text(st, 1, big, -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(db);

	ck_assert_int_eq(store_job_get(s, j.id, &g), 0);
	ck_assert_uint_eq(strlen(g.err_msg), 510);
	ck_assert_int_eq(memcmp(g.err_msg, big, 510), 0);
	o = job_to_json(&g, NULL, 0);
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(o, "error"),
							   "message")), g.err_msg);
	json_decref(o);
	job_release(&g);
	store_free(s);
}
END_TEST

#define THREADS 4
#define EVENTS_PER_THREAD 50

struct worker {
	struct store *s;
	const char *job_id;
	int failures;
};

static void *event_worker(void *arg)
{
	struct worker *w = arg;
	struct job_event ev;
	int i;

	for (i = 0; i < EVENTS_PER_THREAD; i++) {
		memset(&ev, 0, sizeof(ev));
		strcpy(ev.job_id, w->job_id);
		strcpy(ev.level, "info");
		snprintf(ev.message, sizeof(ev.message), "%d", i);
		if (store_event_add(w->s, &ev) != 0)
			w->failures++;
	}
	return NULL;
}

START_TEST(test_threads)
{
	struct store *s = open_store();
	struct worker w[THREADS];
	pthread_t t[THREADS];
	struct job_event *evs;
	struct job j;
	size_t n, i;

	make_job(&j, 1, JOB_RUNNING, 10);
	ck_assert_int_eq(store_job_insert(s, &j), 0);
	for (i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .s = s, .job_id = j.id };
		ck_assert_int_eq(pthread_create(&t[i], NULL, event_worker, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		ck_assert_int_eq(w[i].failures, 0);
	}
	ck_assert_int_eq(store_event_list(s, j.id, 0, 1000, &evs, &n), 0);
	ck_assert_uint_eq(n, THREADS * EVENTS_PER_THREAD);
	for (i = 1; i < n; i++)
		ck_assert_int_gt(evs[i].id, evs[i - 1].id);
	free(evs);
	store_free(s);
}
END_TEST

static Suite *store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_migrations_once);
	tcase_add_test(tc, test_newer_schema_refused);
	tcase_add_test(tc, test_job_roundtrip);
	tcase_add_test(tc, test_reopen_persists);
	tcase_add_test(tc, test_list_paging);
	tcase_add_test(tc, test_unfinished_and_busy);
	tcase_add_test(tc, test_iterations);
	tcase_add_test(tc, test_prune);
	tcase_add_test(tc, test_events);
	tcase_add_test(tc, test_events_bounded);
	tcase_add_test(tc, test_long_text_cut_safely);
	tcase_add_test(tc, test_threads);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
