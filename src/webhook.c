/* webhook.c: deliveries of callback_url (see webhook.h). One thread, a bounded
 * queue ordered by due time, one attempt at a time with libcurl. */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "metrics.h"
#include "util.h"
#include "webhook.h"

#define RESPONSE_MAX (1024 * 1024)   /* bytes of a receiver's answer read, then cut */

struct delivery {
	char id[JOB_ID_LEN];
	int64_t due;          /* monotonic ms of the next attempt */
	int64_t backoff_ms;   /* the wait after a failure, doubled each time */
};

struct webhooks {
	struct store *store;
	struct webhook_config cfg;
	unsigned char *key;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	struct delivery q[WEBHOOK_QUEUE_MAX];
	size_t n;
	bool stop;
	pthread_t thread;
};

int webhook_sign(const void *key, size_t key_len, int64_t t, const char *body, size_t len,
		 char *out, size_t outlen)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1], *msg;
	int n;

	/* What is signed: the time, a dot, the body; the time inside the signature
	 * lets a receiver refuse an old request played again. */
	msg = malloc(len + 32);
	if (!msg)
		return -ENOMEM;
	n = snprintf(msg, 32, "%lld.", (long long)t);
	memcpy(msg + n, body, len);
	if (!HMAC(EVP_sha256(), key, (int)key_len, (unsigned char *)msg, (size_t)n + len, md,
		  &mdlen)) {
		free(msg);
		return -EIO;
	}
	free(msg);
	hex_encode(md, mdlen, hex);
	if ((size_t)snprintf(out, outlen, "t=%lld,v1=%s", (long long)t, hex) >= outlen)
		return -ENOSPC;
	return 0;
}

/* An event of the job, kind "webhook". */
__attribute__((format(printf, 5, 6)))
static void wh_event(struct webhooks *w, const struct job *j, const char *level, json_t *data,
		     const char *fmt, ...)
{
	struct job_event evt = { 0 };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(evt.message, sizeof(evt.message), fmt, ap);
	va_end(ap);
	snprintf(evt.job_id, sizeof(evt.job_id), "%s", j->id);
	snprintf(evt.level, sizeof(evt.level), "%s", level);
	snprintf(evt.phase, sizeof(evt.phase), "%s", j->phase);
	snprintf(evt.state, sizeof(evt.state), "%s", job_state_name(j->state));
	snprintf(evt.kind, sizeof(evt.kind), "webhook");
	evt.data = data ? json_dumps(data, JSON_COMPACT) : NULL;
	json_decref(data);
	store_event_add(w->store, &evt);
	free(evt.data);
	if (strcmp(level, "info") == 0)
		log_info("job %.8s: %s", j->id, evt.message);
	else
		log_warnx("job %.8s: %s", j->id, evt.message);
}

struct attempt {
	struct webhooks *w;
	size_t got;
};

static size_t discard(char *p, size_t size, size_t nmemb, void *arg)
{
	struct attempt *a = arg;
	size_t n = size * nmemb;

	if (n > RESPONSE_MAX - a->got)
		return 0;   /* ends the transfer: the answer is not read further */
	a->got += n;
	return n;
}

static int cut_on_stop(void *arg, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct attempt *a = arg;
	bool stop;

	pthread_mutex_lock(&a->w->mu);
	stop = a->w->stop;
	pthread_mutex_unlock(&a->w->mu);
	return stop ? 1 : 0;
}

/* One POST of body to url. Returns the HTTP status (0 when there was none) and a
 * sentence in err. */
static long post_once(struct webhooks *w, const struct job *j, const char *body, int attempt,
		      char *err, size_t errlen)
{
	char sig[WEBHOOK_SIG_LEN], hdr[4][200], cerr[CURL_ERROR_SIZE] = "";
	struct curl_slist *hl = NULL;
	struct attempt a = { .w = w };
	long status = 0;
	CURL *c;
	CURLcode rc;

	err[0] = '\0';
	if (webhook_sign(w->key, w->cfg.key_len, time_now_ms() / 1000, body, strlen(body), sig,
			 sizeof(sig)) < 0) {
		snprintf(err, errlen, "cannot sign the body");
		return 0;
	}
	snprintf(hdr[0], sizeof(hdr[0]), "X-Hauld-Signature: %s", sig);
	snprintf(hdr[1], sizeof(hdr[1]), "X-Hauld-Delivery: %s", j->id);
	snprintf(hdr[2], sizeof(hdr[2]), "X-Hauld-Attempt: %d", attempt);
	snprintf(hdr[3], sizeof(hdr[3]), "X-Hauld-Event: migration.finished");
	c = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return 0;
	}
	hl = curl_slist_append(hl, "Content-Type: application/json");
	hl = curl_slist_append(hl, "Expect:");
	for (int i = 0; i < 4; i++)
		hl = curl_slist_append(hl, hdr[i]);
	curl_easy_setopt(c, CURLOPT_URL, j->callback_url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_easy_setopt(c, CURLOPT_USERAGENT, "hauld/" HAULD_VERSION);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)WEBHOOK_ATTEMPT_S);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)WEBHOOK_ATTEMPT_S);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, cut_on_stop);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &a);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && status >= 200 && status < 300))
		snprintf(err, errlen, "%s", cerr[0] ? cerr : curl_easy_strerror(rc));
	else if (status < 200 || status > 299)
		snprintf(err, errlen, "HTTP %ld", status);
	curl_slist_free_all(hl);
	curl_easy_cleanup(c);
	return status;
}

/* Keep the delivery's state in the job. */
static void job_mark(struct webhooks *w, const char *id, const char *state, int attempts)
{
	struct job j;

	if (store_job_get(w->store, id, &j) < 0)
		return;
	snprintf(j.webhook_state, sizeof(j.webhook_state), "%s", state);
	j.webhook_attempts = attempts;
	store_job_update(w->store, &j);
	job_release(&j);
}

/* One attempt at d. Returns true when d is to be tried again (d->due set). */
static bool attempt(struct webhooks *w, struct delivery *d)
{
	struct job_iter *iters = NULL;
	size_t n_iters = 0;
	char err[CURL_ERROR_SIZE + 32];
	json_t *body;
	char *text;
	long status;
	int64_t deadline;
	struct job j;
	int n;
	bool again = false;

	if (store_job_get(w->store, d->id, &j) < 0)
		return false;   /* gone with its job */
	if (!j.callback_url[0] || strcmp(j.webhook_state, "pending") != 0) {
		job_release(&j);
		return false;
	}
	n = j.webhook_attempts + 1;
	j.webhook_attempts = n;
	store_iter_list(w->store, j.id, &iters, &n_iters);
	body = job_to_json(&j, iters, n_iters);
	free(iters);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (!text) {
		wh_event(w, &j, "error", NULL, "webhook: cannot build the body");
		job_mark(w, j.id, "failed", n);
		job_release(&j);
		return false;
	}
	status = post_once(w, &j, text, n, err, sizeof(err));
	free(text);
	deadline = j.finished_at + (int64_t)w->cfg.max_s * 1000;
	metrics_webhook(!err[0] ? "delivered" : "attempt_failed");
	if (!err[0]) {
		job_mark(w, j.id, "delivered", n);
		wh_event(w, &j, "info", json_pack("{s:i, s:I}", "attempt", n, "status",
						  (json_int_t)status),
			 "webhook: attempt %d to %s: HTTP %ld, delivered", n, j.callback_url,
			 status);
	} else if (status == 410 || time_now_ms() + d->backoff_ms > deadline) {
		metrics_webhook("failed");
		job_mark(w, j.id, "failed", n);
		wh_event(w, &j, "error", json_pack("{s:i, s:I, s:s}", "attempt", n, "status",
						   (json_int_t)status, "error", err),
			 "webhook: attempt %d to %s failed (%s); %s", n, j.callback_url, err,
			 status == 410 ? "the receiver answered 410 Gone: no more attempts"
				       : "giving up, the time for retries is over");
	} else {
		job_mark(w, j.id, "pending", n);
		wh_event(w, &j, "warn", json_pack("{s:i, s:I, s:s, s:I}", "attempt", n,
						  "status", (json_int_t)status, "error", err,
						  "retry_in_ms", (json_int_t)d->backoff_ms),
			 "webhook: attempt %d to %s failed (%s); again in %lld ms", n,
			 j.callback_url, err, (long long)d->backoff_ms);
		d->due = time_mono_ms() + d->backoff_ms;
		d->backoff_ms *= 2;
		if (d->backoff_ms > WEBHOOK_BACKOFF_MAX * 1000)
			d->backoff_ms = WEBHOOK_BACKOFF_MAX * 1000;
		again = true;
	}
	job_release(&j);
	return again;
}

/* Under w->mu. */
static void enqueue(struct webhooks *w, const struct delivery *d)
{
	w->q[w->n++] = *d;
	pthread_cond_broadcast(&w->cond);
}

static void *deliver_main(void *arg)
{
	struct webhooks *w = arg;
	struct delivery d;
	struct timespec ts;
	int64_t now, wait_ms;
	size_t i, best;

	pthread_mutex_lock(&w->mu);
	while (!w->stop) {
		if (w->n == 0) {
			pthread_cond_wait(&w->cond, &w->mu);
			continue;
		}
		for (best = 0, i = 1; i < w->n; i++)
			if (w->q[i].due < w->q[best].due)
				best = i;
		now = time_mono_ms();
		if (w->q[best].due > now) {
			wait_ms = w->q[best].due - now;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += wait_ms / 1000;
			ts.tv_nsec += (wait_ms % 1000) * 1000000L;
			if (ts.tv_nsec >= 1000000000L) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000L;
			}
			pthread_cond_timedwait(&w->cond, &w->mu, &ts);
			continue;
		}
		d = w->q[best];
		w->q[best] = w->q[--w->n];
		pthread_mutex_unlock(&w->mu);
		if (attempt(w, &d)) {
			pthread_mutex_lock(&w->mu);
			enqueue(w, &d);
		} else {
			pthread_mutex_lock(&w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

void webhook_queue(struct webhooks *w, const char *job_id)
{
	struct delivery d = { 0 };
	struct job j;
	bool full;

	if (!w || !job_id)
		return;
	snprintf(d.id, sizeof(d.id), "%s", job_id);
	d.due = time_mono_ms();
	d.backoff_ms = w->cfg.first_backoff_ms;
	pthread_mutex_lock(&w->mu);
	full = w->n >= WEBHOOK_QUEUE_MAX;
	for (size_t i = 0; !full && i < w->n; i++)
		if (strcmp(w->q[i].id, job_id) == 0) {
			pthread_mutex_unlock(&w->mu);
			return;
		}
	if (!full)
		enqueue(w, &d);
	pthread_mutex_unlock(&w->mu);
	if (full && store_job_get(w->store, job_id, &j) == 0) {
		job_mark(w, job_id, "failed", j.webhook_attempts);
		wh_event(w, &j, "error", NULL, "webhook: not sent, %d deliveries are waiting "
			 "already", WEBHOOK_QUEUE_MAX);
		job_release(&j);
	}
}

int webhooks_start(struct store *s, const struct webhook_config *cfg, struct webhooks **out)
{
	char (*ids)[JOB_ID_LEN] = NULL;
	struct webhooks *w;
	size_t n = 0;

	if (!s || !cfg || !cfg->key || cfg->key_len == 0 || !out)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->key = malloc(cfg->key_len);
	if (!w->key) {
		free(w);
		return -ENOMEM;
	}
	memcpy(w->key, cfg->key, cfg->key_len);
	w->store = s;
	w->cfg = *cfg;
	w->cfg.key = w->key;
	if (w->cfg.first_backoff_ms <= 0)
		w->cfg.first_backoff_ms = 1000;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (store_webhook_pending(s, WEBHOOK_QUEUE_MAX, &ids, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			webhook_queue(w, ids[i]);
		if (n)
			log_info("webhooks: %zu deliveries pending from the last run", n);
		free(ids);
	}
	if (pthread_create(&w->thread, NULL, deliver_main, w) != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->mu);
		free(w->key);
		free(w);
		return -EAGAIN;
	}
	*out = w;
	return 0;
}

void webhooks_stop(struct webhooks *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->mu);
	OPENSSL_cleanse(w->key, w->cfg.key_len);
	free(w->key);
	free(w);
}
