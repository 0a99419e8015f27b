/* cli_http.c: HTTP requests to the API with libcurl (see cli_http.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "cli_http.h"

/* One transfer's state, shared by libcurl's callbacks. */
struct xfer {
	CURL *curl;
	const struct http_req *rq;
	struct http_resp *rs;
	char *buf;
	size_t len, cap;
	bool decided;    /* whether the answer is a stream is known */
	bool streaming;
	bool too_large;
	bool sink_failed;
};

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_global_cleanup(void)
{
	curl_global_cleanup();
}

void http_resp_release(struct http_resp *rs)
{
	if (!rs)
		return;
	free(rs->body);
	rs->body = NULL;
	rs->len = 0;
}

/* Whether the answer goes to the sink: known once the headers are in. */
static void xfer_decide(struct xfer *x)
{
	long code = 0;
	char *ctype = NULL;

	if (x->decided)
		return;
	x->decided = true;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_getinfo(x->curl, CURLINFO_CONTENT_TYPE, &ctype);
	x->streaming = x->rq->sink && code == 200 && ctype &&
		       strncasecmp(ctype, "text/event-stream", 17) == 0;
	x->rs->streamed = x->streaming;
}

static int xfer_append(struct xfer *x, const char *p, size_t n)
{
	char *tmp;
	size_t cap;

	if (n > HTTP_BODY_MAX - x->len) {
		x->too_large = true;
		return -1;
	}
	if (x->len + n + 1 > x->cap) {
		cap = x->cap ? x->cap : 4096;
		while (cap < x->len + n + 1)
			cap *= 2;
		tmp = realloc(x->buf, cap);
		if (!tmp) {
			x->too_large = true;
			return -1;
		}
		x->buf = tmp;
		x->cap = cap;
	}
	memcpy(x->buf + x->len, p, n);
	x->len += n;
	x->buf[x->len] = '\0';
	return 0;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	int rc;

	xfer_decide(x);
	if (!x->streaming)
		return xfer_append(x, p, n) < 0 ? 0 : n;
	rc = x->rq->sink(x->rq->sink_ctx, p, n);
	if (x->rq->tick)
		x->rq->tick(x->rq->tick_ctx);
	if (rc == SINK_MORE)
		return n;
	if (rc == SINK_STOP)
		x->rs->stopped = true;
	else
		x->sink_failed = true;
	return 0;   /* anything but n ends the transfer */
}

/* The value of header "name: value" in line (len bytes), copied without blanks
 * and CRLF into out; 0 when line is that header. */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t outlen)
{
	size_t nl = strlen(name), i, j;

	if (len <= nl || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
		return -1;
	for (i = nl + 1; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	for (j = len; j > i && (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' ');
	     j--)
		;
	snprintf(out, outlen, "%.*s", (int)(j - i), line + i);
	return 0;
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	char v[16];

	if (n >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		/* A new answer (after a 100 Continue): forget the last one's headers. */
		x->rs->location[0] = '\0';
		x->rs->replayed = false;
		x->decided = false;
	} else if (n <= 2 && (p[0] == '\r' || p[0] == '\n')) {
		xfer_decide(x);
	} else if (header_value(p, n, "Location", x->rs->location, sizeof(x->rs->location)) == 0) {
		/* kept */
	} else if (header_value(p, n, "Idempotent-Replayed", v, sizeof(v)) == 0) {
		x->rs->replayed = strcasecmp(v, "true") == 0;
	}
	return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct xfer *x = ud;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (cli_interrupted)
		return 1;
	if (x->rq->tick)
		x->rq->tick(x->rq->tick_ctx);
	return 0;
}

/* Appends line to *h; on failure frees the list and leaves *h NULL. */
static int add_header(struct curl_slist **h, const char *line)
{
	struct curl_slist *t;

	t = curl_slist_append(*h, line);
	if (!t) {
		curl_slist_free_all(*h);
		*h = NULL;
		return -1;
	}
	*h = t;
	return 0;
}

/* The request's headers, or NULL when out of memory; you own the list. */
static struct curl_slist *xfer_headers(const struct cli *c, const struct http_req *rq)
{
	struct curl_slist *h = NULL;
	char line[4200];
	int rc;

	rc = add_header(&h, rq->sink ? "Accept: text/event-stream" : "Accept: application/json");
	/* A small JSON body needs no 100-continue round trip. */
	if (rc == 0)
		rc = add_header(&h, "Expect:");
	if (rc == 0 && rq->body)
		rc = add_header(&h, "Content-Type: application/json");
	if (rc == 0 && c->token) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", c->token);
		rc = add_header(&h, line);
		explicit_bzero(line, sizeof(line));
	}
	if (rc == 0 && rq->idempotency_key) {
		snprintf(line, sizeof(line), "Idempotency-Key: %s", rq->idempotency_key);
		rc = add_header(&h, line);
	}
	if (rc == 0 && rq->last_event_id) {
		snprintf(line, sizeof(line), "Last-Event-ID: %s", rq->last_event_id);
		rc = add_header(&h, line);
	}
	return rc == 0 ? h : NULL;
}

static int xfer_setup(struct xfer *x, const struct cli *c, const char *url,
		      struct curl_slist *hdrs, char *errbuf)
{
	const struct http_req *rq = x->rq;
	CURL *k = x->curl;
	CURLcode rc = CURLE_OK;

#define SET(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(k, opt, val); } while (0)
	SET(CURLOPT_URL, url);
	SET(CURLOPT_PROTOCOLS_STR, "http,https");
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_ERRORBUFFER, errbuf);
	SET(CURLOPT_USERAGENT, "haul/" HAULD_VERSION);
	SET(CURLOPT_HTTPHEADER, hdrs);
	SET(CURLOPT_CONNECTTIMEOUT_MS, (long)HTTP_CONNECT_MS);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_WRITEFUNCTION, on_body);
	SET(CURLOPT_WRITEDATA, x);
	SET(CURLOPT_HEADERFUNCTION, on_header);
	SET(CURLOPT_HEADERDATA, x);
	SET(CURLOPT_NOPROGRESS, 0L);
	SET(CURLOPT_XFERINFOFUNCTION, on_progress);
	SET(CURLOPT_XFERINFODATA, x);
	if (rq->sink) {
		/* No total bound; a connection that went silent is noticed instead. */
		SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		SET(CURLOPT_LOW_SPEED_TIME, (long)HTTP_STREAM_IDLE_S);
	} else {
		SET(CURLOPT_TIMEOUT_MS, (long)HTTP_REQUEST_MS);
		SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)HTTP_BODY_MAX);
	}
	if (c->cacert)
		SET(CURLOPT_CAINFO, c->cacert);
	if (rq->body) {
		SET(CURLOPT_POSTFIELDS, rq->body);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(rq->body));
	}
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "POST") != 0)
		SET(CURLOPT_CUSTOMREQUEST, rq->method);
#undef SET
	return rc == CURLE_OK ? 0 : -1;
}

/* What a failed transfer means, in rs->fail, rs->retryable and rs->err. */
static void xfer_classify(struct xfer *x, const struct cli *c, CURLcode rc, const char *errbuf)
{
	struct http_resp *rs = x->rs;
	const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	if (rc == CURLE_ABORTED_BY_CALLBACK) {
		rs->fail = HF_INTERRUPTED;
		snprintf(rs->err, sizeof(rs->err), "interrupted");
		return;
	}
	if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
		rs->fail = HF_PROTOCOL;
		snprintf(rs->err, sizeof(rs->err), "the answer to %s %s is larger than %u MiB",
			 x->rq->method, x->rq->path, HTTP_BODY_MAX >> 20);
		return;
	}
	if (x->sink_failed) {
		rs->fail = HF_PROTOCOL;
		snprintf(rs->err, sizeof(rs->err), "%s %s: %s", x->rq->method, x->rq->path,
			 x->rq->sink_err ? x->rq->sink_err(x->rq->sink_ctx) : "bad stream");
		return;
	}
	rs->fail = HF_UNREACHABLE;
	switch (rc) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		rs->retryable = true;
		break;
	default:
		break;
	}
	if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE)
		snprintf(rs->err, sizeof(rs->err), "%s: %s (a private CA: --cacert FILE)", c->api,
			 why);
	else
		snprintf(rs->err, sizeof(rs->err), "%s: %s", c->api, why);
}

int http_do(const struct cli *c, const struct http_req *rq, struct http_resp *rs)
{
	char errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdrs = NULL;
	struct xfer x = { .rq = rq, .rs = rs };
	char *url = NULL;
	CURLcode rc;
	int ret = -1;

	memset(rs, 0, sizeof(*rs));
	if (asprintf(&url, "%s%s", c->api, rq->path) < 0) {
		url = NULL;
	} else {
		x.curl = curl_easy_init();
		hdrs = xfer_headers(c, rq);
	}
	if (!url || !x.curl || !hdrs || xfer_setup(&x, c, url, hdrs, errbuf) < 0) {
		rs->fail = HF_PROTOCOL;
		snprintf(rs->err, sizeof(rs->err), "out of memory, or libcurl refused the request");
		goto out;
	}
	rc = curl_easy_perform(x.curl);
	curl_easy_getinfo(x.curl, CURLINFO_RESPONSE_CODE, &rs->status);
	if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && rs->stopped))
		ret = 0;
	else
		xfer_classify(&x, c, rc, errbuf);
out:
	rs->body = x.buf ? x.buf : strdup("");
	rs->len = x.buf ? x.len : 0;
	curl_slist_free_all(hdrs);
	if (x.curl)
		curl_easy_cleanup(x.curl);
	free(url);
	if (!rs->body) {
		rs->fail = HF_PROTOCOL;
		return -1;
	}
	return ret;
}
