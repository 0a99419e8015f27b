/* http.c: the HTTP transport (see http.h). libmicrohttpd calls on_access three
 * times or more per request: once when the headers are in (we allocate state and
 * may refuse the body), once per body chunk (we append, with a cap), and once
 * more with no data (we call the handler and queue its reply). req_completed
 * frees the state whatever the outcome. Nothing here knows about migrations. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "apierror.h"
#include "http.h"
#include "log.h"

#define HTTP_THREADS      4
#define HTTP_MAX_CONNS    512
#define HTTP_PER_IP_CONNS 64   /* from one address: a slow client cannot take them all */
#define HTTP_IDLE_TIMEOUT 30   /* seconds without a byte */
/* A request must be whole (headers and body) this long after its connection opened
 * or its previous request ended: a client that sends a byte now and then (which
 * resets the idle timer) is cut all the same. */
#define HTTP_REQUEST_MS   30000
/* A body that goes over HTTP_MAX_BODY without a Content-Length (chunked) can
 * only be answered once it ends (libmicrohttpd 0.9.75 refuses a response queued
 * mid-body), so the rest is read and dropped; when more than this many bytes
 * would be dropped we stop reading and hang up instead of answering. */
#define HTTP_MAX_DISCARD  (1024 * 1024)
/* What libmicrohttpd holds of one connection: its memory pool, which keeps the
 * request line and headers as read, a record of about 64 bytes for each header and
 * query parameter, and the reply's headers. libmicrohttpd 0.9.75 grows its read
 * buffer within the pool until the line it reads ends; when the pool is full
 * first it answers itself, 414 (in the request line) or 431 (in the headers), with
 * a fixed HTML body it has no option or hook to change. This pool holds the
 * largest request hauld accepts (HTTP_MAX_URL + HTTP_MAX_HEADERS, 24 KiB) with
 * room for its records and reply, so a request over hauld's limits gets hauld's
 * JSON 414 or 431 up to about 65,100 bytes; only above that does libmicrohttpd's own
 * answer come (SECURITY.md says what it is).
 * The cost: libmicrohttpd mmaps a pool over 32 KiB, but it zeroes the whole pool
 * between two requests on a kept-alive connection, so the pages are committed:
 * at most HTTP_MAX_CONNS x 64 KiB = 32 MiB (16 MiB with the 32 KiB default). */
#define HTTP_CONN_MEMORY  (64 * 1024)

/* One streamed response (struct http_stream) and where it stands. */
struct stream_conn {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct http_stream st;
	struct http_buf out;
	uint64_t seen_gen;      /* srv->gen when fill last ran */
	int64_t wake_at;        /* fill's own deadline, monotonic ms */
	bool fresh;             /* fill has not run yet */
	bool done;              /* fill said the body is complete */
	bool suspended;         /* on srv->parked, MHD not polling it */
	struct stream_conn *next, *prev;
};

/* A connection while its request comes in, for the request deadline. */
struct conn_track {
	int fd;
	int64_t since;           /* monotonic ms the request began to come */
	bool busy;               /* its request is whole: the deadline does not apply */
	struct conn_track *next, *prev;
};

struct http_server {
	struct MHD_Daemon *daemon;
	http_handler_fn fn;
	void *ctx;
	/* Streams: smu guards everything below. gen counts http_notify calls; parked
	 * lists the suspended streams, which the ticker resumes at their wake_at. */
	pthread_mutex_t smu;
	pthread_cond_t scond;
	uint64_t gen;
	struct stream_conn *parked;
	size_t n_streams;
	bool stopping;
	pthread_t ticker;
	bool ticker_started;
	struct conn_track *conns;   /* every open connection, under smu */
};

/* Per-request state, owned by libmicrohttpd's con_cls slot from the first call
 * of on_access until req_completed. */
struct http_req_state {
	char *body;          /* NUL-terminated; grown up to HTTP_MAX_BODY + 1 */
	size_t body_len;
	size_t body_cap;
	int answered;        /* a response was queued before the body was read */
	int started;         /* on_access has seen the request's headers */
	int uri_too_long;    /* the request target is over HTTP_MAX_URL */
	int too_large;       /* over the cap mid-body: drop the rest, then 413 */
	size_t discarded;    /* bytes dropped since */
	struct http_query_param query[HTTP_MAX_QUERY];
	size_t n_query;
};

/* libmicrohttpd's own messages (MHD_USE_ERROR_LOG) go through our log API so
 * every line the daemon writes has the same shape. */
__attribute__((format(printf, 2, 0)))
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warnx("http: %s", msg);
}

static int has_crlf(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* A body for the reply: the JSON text, or an empty body when there is none.
 * Returns NULL only when memory runs out. */
static struct MHD_Response *json_response(json_t *body)
{
	struct MHD_Response *resp;
	char *text;

	if (body == NULL)
		return MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	text = json_dumps(body, JSON_COMPACT);
	if (text == NULL)
		return NULL;
	/* json_dumps allocates with malloc (we never call json_set_alloc_funcs), so
	 * libmicrohttpd may release it with free. */
	resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (resp == NULL)
		free(text);
	return resp;
}

/* Open the file the handler named. The handler checked the path; we still
 * refuse anything that is not a regular file, which a FIFO or device under the
 * www dir would otherwise turn into a hung or endless response. */
static struct MHD_Response *file_response(struct http_reply *reply)
{
	struct MHD_Response *resp;
	struct stat st;
	int fd;

	fd = open(reply->file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			api_error(reply, AE_NOT_FOUND, NULL, "No such file.");
		else {
			log_warn("http: open %s", reply->file);
			api_error(reply, AE_INTERNAL, NULL, "The file could not be read.");
		}
		return NULL;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uintmax_t)st.st_size > SIZE_MAX) {
		close(fd);
		api_error(reply, AE_NOT_FOUND, NULL, "No such file.");
		return NULL;
	}
	/* The response owns fd from here and closes it when destroyed. */
	resp = MHD_create_response_from_fd((size_t)st.st_size, fd);
	if (resp == NULL) {
		close(fd);
		api_error(reply, AE_INTERNAL, NULL, "Out of memory.");
		return NULL;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    reply->content_type ? reply->content_type
							: "application/octet-stream") != MHD_YES) {
		MHD_destroy_response(resp);
		api_error(reply, AE_INTERNAL, NULL, "Bad content type.");
		return NULL;
	}
	return resp;
}

int http_buf_append(struct http_buf *b, const char *p, size_t n)
{
	size_t cap;
	char *tmp;

	if (b->off > 0 && b->off == b->len)
		b->off = b->len = 0;
	if (n > HTTP_STREAM_BUF || b->len - b->off > HTTP_STREAM_BUF - n)
		return -ENOBUFS;
	if (b->len + n > b->cap) {
		if (b->off > 0) {
			memmove(b->data, b->data + b->off, b->len - b->off);
			b->len -= b->off;
			b->off = 0;
		}
		cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n)
			cap *= 2;
		if (cap != b->cap) {
			tmp = realloc(b->data, cap);
			if (!tmp)
				return -ENOMEM;
			b->data = tmp;
			b->cap = cap;
		}
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int http_buf_printf(struct http_buf *b, const char *fmt, ...)
{
	char small[512], *big = NULL;
	va_list ap;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return http_buf_append(b, small, (size_t)n);
	va_start(ap, fmt);
	n = vasprintf(&big, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	rc = http_buf_append(b, big, (size_t)n);
	free(big);
	return rc;
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Under srv->smu. */
static void park(struct stream_conn *sc)
{
	struct http_server *srv = sc->srv;

	sc->suspended = true;
	sc->prev = NULL;
	sc->next = srv->parked;
	if (srv->parked)
		srv->parked->prev = sc;
	srv->parked = sc;
	MHD_suspend_connection(sc->conn);
}

/* Under srv->smu. */
static void unpark(struct stream_conn *sc)
{
	struct http_server *srv = sc->srv;

	if (!sc->suspended)
		return;
	if (sc->prev)
		sc->prev->next = sc->next;
	else
		srv->parked = sc->next;
	if (sc->next)
		sc->next->prev = sc->prev;
	sc->next = sc->prev = NULL;
	sc->suspended = false;
	MHD_resume_connection(sc->conn);
}

/* libmicrohttpd asks for more of a streamed body. What fill left is sent first;
 * when there is nothing and nothing new has happened since fill last ran, the
 * connection is suspended (returning 0 with it suspended is how a reader waits)
 * until http_notify, its wake time or the server's stop resumes it. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct stream_conn *sc = cls;
	struct http_server *srv = sc->srv;
	int64_t now;
	uint64_t gen;
	bool stopping;
	size_t n;
	int rc;

	for (;;) {
		if (sc->out.off < sc->out.len) {
			n = sc->out.len - sc->out.off;
			if (n > max)
				n = max;
			memcpy(buf, sc->out.data + sc->out.off, n);
			sc->out.off += n;
			return (ssize_t)n;
		}
		if (sc->done)
			return MHD_CONTENT_READER_END_OF_STREAM;
		now = mono_ms();
		pthread_mutex_lock(&srv->smu);
		gen = srv->gen;
		stopping = srv->stopping;
		if (!stopping && !sc->fresh && gen == sc->seen_gen && now < sc->wake_at) {
			park(sc);
			pthread_mutex_unlock(&srv->smu);
			return 0;
		}
		sc->seen_gen = gen;
		pthread_mutex_unlock(&srv->smu);
		sc->fresh = false;
		sc->wake_at = now + 1000;
		n = sc->out.len - sc->out.off;
		rc = sc->st.fill(sc->st.ctx, &sc->out, now, stopping, &sc->wake_at);
		if (rc < 0)
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (rc == 0 || stopping)
			sc->done = true;
		/* "Again at once" with nothing written would spin. */
		if (rc == 1 && sc->out.len - sc->out.off == n && sc->wake_at <= now)
			sc->wake_at = now + 100;
		/* At most a minute ahead, so that a dead client is found in time. */
		if (sc->wake_at > now + 60000)
			sc->wake_at = now + 60000;
	}
}

static void stream_free(void *cls)
{
	struct stream_conn *sc = cls;
	struct http_server *srv = sc->srv;

	pthread_mutex_lock(&srv->smu);
	unpark(sc);
	srv->n_streams--;
	pthread_cond_broadcast(&srv->scond);
	pthread_mutex_unlock(&srv->smu);
	if (sc->st.free)
		sc->st.free(sc->st.ctx);
	free(sc->out.data);
	free(sc);
}

void http_notify(struct http_server *srv)
{
	struct stream_conn *sc;

	if (!srv)
		return;
	pthread_mutex_lock(&srv->smu);
	srv->gen++;
	while ((sc = srv->parked))
		unpark(sc);
	pthread_mutex_unlock(&srv->smu);
}

/* Resume each parked stream at its wake time; at the stop, all of them. */
static void *ticker_main(void *arg)
{
	struct http_server *srv = arg;
	struct stream_conn *sc, *next;
	struct timespec ts;
	int64_t now;

	pthread_mutex_lock(&srv->smu);
	while (!srv->stopping) {
		struct conn_track *ct;

		now = mono_ms();
		for (sc = srv->parked; sc; sc = next) {
			next = sc->next;
			if (sc->wake_at <= now)
				unpark(sc);
		}
		/* A listed fd is open: the close notification unlists it first. */
		for (ct = srv->conns; ct; ct = ct->next) {
			if (!ct->busy && ct->fd >= 0 && now - ct->since > HTTP_REQUEST_MS) {
				shutdown(ct->fd, SHUT_RDWR);
				ct->fd = -1;
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&srv->scond, &srv->smu, &ts);
	}
	pthread_mutex_unlock(&srv->smu);
	return NULL;
}

/* A stream reply: a response whose body stream_read produces. Takes reply->stream. */
static struct MHD_Response *stream_response(struct http_server *srv, struct MHD_Connection *conn,
					    struct http_reply *reply)
{
	struct MHD_Response *resp;
	struct stream_conn *sc;
	bool full;

	pthread_mutex_lock(&srv->smu);
	full = srv->stopping || srv->n_streams >= HTTP_MAX_STREAMS;
	if (!full)
		srv->n_streams++;
	pthread_mutex_unlock(&srv->smu);
	sc = full ? NULL : calloc(1, sizeof(*sc));
	if (!sc) {
		if (!full) {
			pthread_mutex_lock(&srv->smu);
			srv->n_streams--;
			pthread_mutex_unlock(&srv->smu);
		}
		if (reply->stream.free)
			reply->stream.free(reply->stream.ctx);
		memset(&reply->stream, 0, sizeof(reply->stream));
		api_error(reply, AE_UNAVAILABLE, NULL, full ? "Too many open streams; try again later."
						    : "Out of memory.");
		return NULL;
	}
	sc->srv = srv;
	sc->conn = conn;
	sc->st = reply->stream;
	sc->fresh = true;
	memset(&reply->stream, 0, sizeof(reply->stream));
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, sc,
						 stream_free);
	if (!resp) {
		stream_free(sc);
		api_error(reply, AE_INTERNAL, NULL, "Out of memory.");
		return NULL;
	}
	if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				    reply->content_type ? reply->content_type : "application/json")
		    != MHD_YES ||
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") != MHD_YES) {
		MHD_destroy_response(resp);
		api_error(reply, AE_INTERNAL, NULL, "Out of memory.");
		return NULL;
	}
	return resp;
}

/* Turn a reply into a response and queue it. Consumes reply->body. A reply that
 * cannot be sent as asked (no status, bad header, missing file) becomes an API
 * error instead, so the client always gets a well-formed answer. */
static enum MHD_Result send_reply(struct http_server *srv, struct MHD_Connection *conn,
				  struct http_reply *reply)
{
	struct MHD_Response *resp = NULL;
	enum MHD_Result ret;

	reply->location[sizeof(reply->location) - 1] = '\0';
	reply->file[sizeof(reply->file) - 1] = '\0';

	if (reply->status < 100 || reply->status > 599) {
		if (reply->status != 0)
			log_warnx("http: handler set status %d", reply->status);
		api_error(reply, AE_INTERNAL, NULL, "The request was not answered.");
	}
	if (reply->location[0] != '\0' && has_crlf(reply->location)) {
		/* A line break would let the value inject headers. */
		log_warnx("http: Location with a line break refused");
		api_error(reply, AE_INTERNAL, NULL, "The reply could not be built.");
	}
	if (reply->content_type != NULL && has_crlf(reply->content_type)) {
		log_warnx("http: Content-Type with a line break refused");
		api_error(reply, AE_INTERNAL, NULL, "The reply could not be built.");
	}

	if (reply->text) {
		json_decref(reply->body);
		reply->body = NULL;
		resp = MHD_create_response_from_buffer(strlen(reply->text), reply->text,
						       MHD_RESPMEM_MUST_FREE);
		if (resp) {
			reply->text = NULL;
		} else {
			free(reply->text);
			reply->text = NULL;
			api_error(reply, AE_INTERNAL, NULL, "Out of memory.");
		}
		if (resp && (MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
						     reply->content_type ? reply->content_type
									 : "text/plain") != MHD_YES ||
			     MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
						     "no-store") != MHD_YES))
			goto fail;
	} else if (reply->stream.fill && srv) {
		json_decref(reply->body);
		reply->body = NULL;
		resp = stream_response(srv, conn, reply);
		/* On failure stream_response left an API error in reply. */
	} else if (reply->file[0] != '\0') {
		json_decref(reply->body);
		reply->body = NULL;
		resp = file_response(reply);
		/* On failure file_response left an API error in reply. */
	}
	if (resp == NULL) {
		resp = json_response(reply->body);
		if (resp == NULL) {
			/* json_dumps refuses a bare string or number: a handler bug. */
			log_warnx("http: reply body could not be serialized");
			api_error(reply, AE_INTERNAL, NULL, "The reply could not be built.");
			resp = json_response(reply->body);
		}
		if (resp == NULL)
			goto fail;
		if (reply->body != NULL &&
		    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					    "application/json") != MHD_YES)
			goto fail;
		/* API answers describe state that changes under the client. */
		if (MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
					    "no-store") != MHD_YES)
			goto fail;
	}
	if (reply->location[0] != '\0' &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, reply->location) != MHD_YES)
		goto fail;
	if (reply->replayed &&
	    MHD_add_response_header(resp, "Idempotent-Replayed", "true") != MHD_YES)
		goto fail;
	if (reply->www_authenticate &&
	    MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				    "Bearer realm=\"hauld\"") != MHD_YES)
		goto fail;

	ret = MHD_queue_response(conn, (unsigned int)reply->status, resp);
	MHD_destroy_response(resp);
	json_decref(reply->body);
	reply->body = NULL;
	return ret;

fail:
	/* Out of memory: closing the connection is all that is left. */
	log_warnx("http: could not build a response");
	if (resp != NULL)
		MHD_destroy_response(resp);
	json_decref(reply->body);
	reply->body = NULL;
	free(reply->text);
	reply->text = NULL;
	if (reply->stream.free)
		reply->stream.free(reply->stream.ctx);
	memset(&reply->stream, 0, sizeof(reply->stream));
	return MHD_NO;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, enum api_err e,
				  const char *field, const char *msg)
{
	struct http_reply reply;

	memset(&reply, 0, sizeof(reply));
	api_error(&reply, e, field, "%s", msg);
	return send_reply(NULL, conn, &reply);
}

/* libmicrohttpd calls this once the request line is in, with the request target
 * as sent (path and query, before unescaping) and before it parses the query;
 * what it returns is the request's *con_cls in on_access, and req_completed is
 * called for it whatever happens next. The target's length is known only here:
 * on_access sees the path without the query. */
static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_req_state *st;

	(void)cls;
	(void)conn;
	st = calloc(1, sizeof(*st));
	if (st != NULL && uri != NULL)
		st->uri_too_long = strnlen(uri, HTTP_MAX_URL + 1) > HTTP_MAX_URL;
	return st;   /* NULL: on_access finds no state and closes the connection */
}

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
				    size_t key_size, const char *value, size_t value_size)
{
	size_t *total = cls;

	(void)kind;
	(void)key;
	(void)value;
	*total += key_size + value_size;
	return *total > HTTP_MAX_HEADERS ? MHD_NO : MHD_YES;
}

/* 1 when the request's header names and values are over HTTP_MAX_HEADERS. */
static int headers_too_large(struct MHD_Connection *conn)
{
	size_t total = 0;

	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, count_header, &total);
	return total > HTTP_MAX_HEADERS;
}

/* 1 when the announced Content-Length is over the cap. An unparsable value is
 * left to libmicrohttpd, which answers 400 for it itself. */
static int content_length_too_large(struct MHD_Connection *conn)
{
	const char *v;
	unsigned long long n;
	char *end;

	v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (v == NULL || *v < '0' || *v > '9')
		return 0;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (errno == ERANGE)
		return 1;
	if (end == v || *end != '\0')
		return 0;
	return n > HTTP_MAX_BODY;
}

/* Append a body chunk. Returns -E2BIG when the body would go over
 * HTTP_MAX_BODY, -ENOMEM when memory runs out; the state is unchanged then. */
static int body_append(struct http_req_state *st, const char *data, size_t len)
{
	size_t need, cap;
	char *tmp;

	if (len > HTTP_MAX_BODY - st->body_len)
		return -E2BIG;
	need = st->body_len + len + 1;
	if (need > st->body_cap) {
		cap = st->body_cap ? st->body_cap : 4096;
		while (cap < need)
			cap *= 2;
		if (cap > HTTP_MAX_BODY + 1)
			cap = HTTP_MAX_BODY + 1;
		tmp = realloc(st->body, cap);
		if (tmp == NULL)
			return -ENOMEM;
		st->body = tmp;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len, data, len);
	st->body_len += len;
	st->body[st->body_len] = '\0';
	return 0;
}

static enum MHD_Result collect_query(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct http_req_state *st = cls;

	if (st->n_query >= HTTP_MAX_QUERY)
		return MHD_NO;   /* stop iterating: the rest is ignored */
	if (key == NULL)
		return MHD_YES;
	st->query[st->n_query].key = key;
	/* "?flag" without "=" has no value; handlers get "" rather than NULL. */
	st->query[st->n_query].value = value ? value : "";
	st->n_query++;
	return MHD_YES;
}

static void remote_text(struct MHD_Connection *conn, char *buf, size_t len)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	buf[0] = '\0';
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || ci->client_addr == NULL)
		return;
	sa = ci->client_addr;
	if (sa->sa_family == AF_INET) {
		if (inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
			      buf, (socklen_t)len) == NULL)
			buf[0] = '\0';
	} else if (sa->sa_family == AF_INET6) {
		if (inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
			      buf, (socklen_t)len) == NULL)
			buf[0] = '\0';
	}
}

static enum MHD_Result call_handler(struct http_server *srv, struct MHD_Connection *conn,
				    struct http_req_state *st, const char *url,
				    const char *method)
{
	char remote[INET6_ADDRSTRLEN];
	struct http_request req;
	struct http_reply reply;

	st->n_query = 0;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_query, st);
	remote_text(conn, remote, sizeof(remote));

	memset(&req, 0, sizeof(req));
	req.authorization = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_AUTHORIZATION);
	req.content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						       MHD_HTTP_HEADER_CONTENT_TYPE);
	req.origin = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Origin");
	req.host = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	req.idempotency_key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							  "Idempotency-Key");
	req.last_event_id = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Last-Event-ID");
	req.method = method ? method : "";
	req.path = url ? url : "/";
	req.query = st->query;
	req.n_query = st->n_query;
	req.body = st->body_len > 0 ? st->body : NULL;
	req.body_len = st->body_len;
	req.remote = remote;

	memset(&reply, 0, sizeof(reply));
	srv->fn(srv->ctx, &req, &reply);
	return send_reply(srv, conn, &reply);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	struct conn_track *ct = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ct = calloc(1, sizeof(*ct));
		if (!ct)
			return;   /* untracked: only the idle timeout applies */
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		ct->fd = ci ? ci->connect_fd : -1;
		ct->since = mono_ms();
		pthread_mutex_lock(&srv->smu);
		ct->next = srv->conns;
		if (srv->conns)
			srv->conns->prev = ct;
		srv->conns = ct;
		pthread_mutex_unlock(&srv->smu);
		*socket_context = ct;
	} else if (ct) {
		pthread_mutex_lock(&srv->smu);
		if (ct->prev)
			ct->prev->next = ct->next;
		else
			srv->conns = ct->next;
		if (ct->next)
			ct->next->prev = ct->prev;
		pthread_mutex_unlock(&srv->smu);
		free(ct);
		*socket_context = NULL;
	}
}

/* The request on conn is whole (busy) or has ended (the next one's time begins). */
static void conn_mark(struct http_server *srv, struct MHD_Connection *conn, bool busy)
{
	const union MHD_ConnectionInfo *ci;
	struct conn_track *ct;

	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	ct = ci ? ci->socket_context : NULL;
	if (!ct)
		return;
	pthread_mutex_lock(&srv->smu);
	ct->busy = busy;
	ct->since = mono_ms();
	pthread_mutex_unlock(&srv->smu);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req_state *st = *con_cls;
	char msg[80];
	int rc;

	if (st == NULL)
		return MHD_NO;   /* uri_seen ran out of memory */
	if (!st->started) {
		/* Headers are in, no body has been read yet. Answering now, before
		 * the body, means it is never read: the connection is closed after
		 * the reply. */
		st->started = 1;
		if (st->uri_too_long) {
			st->answered = 1;
			snprintf(msg, sizeof(msg), "The URL is longer than %d bytes.",
				 HTTP_MAX_URL);
			return send_error(conn, AE_URI_TOO_LONG, "url", msg);
		}
		if (headers_too_large(conn)) {
			st->answered = 1;
			snprintf(msg, sizeof(msg), "The request headers are larger than %d bytes.",
				 HTTP_MAX_HEADERS);
			return send_error(conn, AE_HEADERS_TOO_LARGE, "headers", msg);
		}
		if (content_length_too_large(conn)) {
			st->answered = 1;
			return send_error(conn, AE_TOO_LARGE, NULL, "The request body is too large.");
		}
		return MHD_YES;
	}

	if (st->answered) {
		/* Already answered: whatever else arrives is dropped. */
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (*upload_data_size != 0) {
		rc = st->too_large ? -E2BIG : body_append(st, upload_data, *upload_data_size);
		if (rc == -ENOMEM)
			return MHD_NO;
		if (rc == -E2BIG) {
			/* Without a Content-Length (chunked) we only learn here that
			 * the body is too large; see HTTP_MAX_DISCARD. */
			if (!st->too_large) {
				st->too_large = 1;
				free(st->body);
				st->body = NULL;
				st->body_len = st->body_cap = 0;
			}
			if (*upload_data_size > HTTP_MAX_DISCARD - st->discarded) {
				log_warnx("http: request body far over the limit, closing");
				return MHD_NO;
			}
			st->discarded += *upload_data_size;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	conn_mark(srv, conn, true);
	if (st->too_large)
		return send_error(conn, AE_TOO_LARGE, NULL, "The request body is too large.");
	return call_handler(srv, conn, st, url, method);
}

static void req_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct http_req_state *st = *con_cls;

	conn_mark(cls, conn, false);
	if (st == NULL)
		return;
	free(st->body);
	free(st);
	*con_cls = NULL;
}

/* Try to start the daemon on one resolved address. */
static struct MHD_Daemon *start_on(struct http_server *srv, const struct addrinfo *ai, int port,
				   const struct http_tls *tls)
{
	struct sockaddr_storage ss;
	/* MHD_USE_AUTO: epoll on Linux, so no descriptor number is too high (select
	 * stops at 1024, and CRIU's work leaves hauld with many open). */
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG |
			     MHD_ALLOW_SUSPEND_RESUME;
	/* Options after the common ones: TLS's, or none. */
	enum MHD_OPTION o1 = MHD_OPTION_END, o2 = MHD_OPTION_END;
	const char *v1 = NULL, *v2 = NULL;

	if (ai->ai_addrlen > sizeof(ss))
		return NULL;
	memset(&ss, 0, sizeof(ss));
	memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
	if (ai->ai_family == AF_INET) {
		((struct sockaddr_in *)(void *)&ss)->sin_port = htons((uint16_t)port);
	} else if (ai->ai_family == AF_INET6) {
		((struct sockaddr_in6 *)(void *)&ss)->sin6_port = htons((uint16_t)port);
		flags |= MHD_USE_IPv6;
	} else {
		return NULL;
	}
	if (tls) {
		flags |= MHD_USE_TLS;
		o1 = MHD_OPTION_HTTPS_MEM_CERT;
		v1 = tls->cert_pem;
		o2 = MHD_OPTION_HTTPS_MEM_KEY;
		v2 = tls->key_pem;
	}

	return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_access, srv,
				/* The logger first, or libmicrohttpd prints to stderr
				 * while it parses the options that follow. */
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)HTTP_THREADS,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned int)HTTP_MAX_CONNS,
				MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)HTTP_PER_IP_CONNS,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT,
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_CONN_MEMORY,
				MHD_OPTION_URI_LOG_CALLBACK, uri_seen, srv,
				MHD_OPTION_NOTIFY_COMPLETED, req_completed, srv,
				MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv,
				o1, v1, o2, v2, MHD_OPTION_END);
}

static int daemon_port(struct MHD_Daemon *d)
{
	const union MHD_DaemonInfo *di;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	if (di != NULL && di->port != 0)
		return di->port;
	/* Fall back to asking the socket itself. */
	di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_LISTEN_FD);
	if (di == NULL || getsockname(di->listen_fd, (struct sockaddr *)&ss, &sl) < 0)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	return -1;
}

struct http_server *http_start(const char *addr, int port, const struct http_tls *tls,
			       http_handler_fn fn, void *ctx, int *bound_port)
{
	struct http_server *srv = NULL;
	struct addrinfo hints, *res = NULL, *ai;
	char host[256];
	size_t len;
	int rc, pass, got;

	if (fn == NULL) {
		log_warnx("http: no handler");
		return NULL;
	}
	if (port < 0 || port > 65535) {
		log_warnx("http: port %d out of range", port);
		return NULL;
	}
	if (addr == NULL || *addr == '\0')
		addr = "0.0.0.0";
	/* Accept "[::1]" as well as "::1": brackets are how IPv6 is written
	 * next to a port. */
	len = strlen(addr);
	if (len >= sizeof(host)) {
		log_warnx("http: address too long");
		return NULL;
	}
	if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
		memcpy(host, addr + 1, len - 2);
		host[len - 2] = '\0';
	} else {
		memcpy(host, addr, len + 1);
	}

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	rc = getaddrinfo(host, NULL, &hints, &res);
	if (rc != 0) {
		log_warnx("http: cannot resolve %s: %s", host, gai_strerror(rc));
		return NULL;
	}

	srv = calloc(1, sizeof(*srv));
	if (srv == NULL) {
		log_warn("http: calloc");
		goto out;
	}
	srv->fn = fn;
	srv->ctx = ctx;
	pthread_mutex_init(&srv->smu, NULL);
	pthread_cond_init(&srv->scond, NULL);

	/* IPv4 first: "localhost" usually resolves to ::1 first, but peers and
	 * scripts that were told "localhost" mostly connect over IPv4. */
	for (pass = 0; pass < 2 && srv->daemon == NULL; pass++) {
		for (ai = res; ai != NULL && srv->daemon == NULL; ai = ai->ai_next) {
			if ((pass == 0) != (ai->ai_family == AF_INET))
				continue;
			srv->daemon = start_on(srv, ai, port, tls);
		}
	}
	if (srv->daemon == NULL) {
		log_warnx("http: cannot listen on %s port %d", addr, port);
		http_stop(srv);
		srv = NULL;
		goto out;
	}
	if (pthread_create(&srv->ticker, NULL, ticker_main, srv) != 0) {
		log_warnx("http: cannot start the stream ticker");
		http_stop(srv);
		srv = NULL;
		goto out;
	}
	srv->ticker_started = true;

	got = daemon_port(srv->daemon);
	if (got <= 0) {
		log_warnx("http: cannot read the bound port");
		http_stop(srv);
		srv = NULL;
		goto out;
	}
	if (bound_port != NULL)
		*bound_port = got;
	log_info("http: listening on %s port %d", addr, got);
out:
	if (res != NULL)
		freeaddrinfo(res);
	return srv;
}

void http_stop(struct http_server *srv)
{
	struct stream_conn *sc;
	struct timespec ts;

	if (srv == NULL)
		return;
	/* libmicrohttpd must not stop with a connection suspended: wake every stream,
	 * which then ends its body, and give them a moment to go. */
	pthread_mutex_lock(&srv->smu);
	srv->stopping = true;
	while ((sc = srv->parked))
		unpark(sc);
	pthread_cond_broadcast(&srv->scond);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 2;
	while (srv->n_streams > 0) {
		while ((sc = srv->parked))
			unpark(sc);
		if (pthread_cond_timedwait(&srv->scond, &srv->smu, &ts) != 0)
			break;
	}
	pthread_mutex_unlock(&srv->smu);
	if (srv->ticker_started)
		pthread_join(srv->ticker, NULL);
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
	pthread_cond_destroy(&srv->scond);
	pthread_mutex_destroy(&srv->smu);
	free(srv);
}

const char *http_query_get(const struct http_request *req, const char *key)
{
	size_t i;

	if (req == NULL || key == NULL || req->query == NULL)
		return NULL;
	for (i = 0; i < req->n_query; i++)
		if (req->query[i].key != NULL && strcmp(req->query[i].key, key) == 0)
			return req->query[i].value;
	return NULL;
}
