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
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

#include "apierror.h"
#include "http.h"
#include "log.h"

#define HTTP_THREADS      4
#define HTTP_MAX_CONNS    256
#define HTTP_IDLE_TIMEOUT 30   /* seconds */
/* A body that goes over HTTP_MAX_BODY without a Content-Length (chunked) can
 * only be answered once it ends (libmicrohttpd 0.9.75 refuses a response queued
 * mid-body), so the rest is read and dropped; when more than this many bytes
 * would be dropped we stop reading and hang up instead of answering. */
#define HTTP_MAX_DISCARD  (1024 * 1024)

struct http_server {
	struct MHD_Daemon *daemon;
	http_handler_fn fn;
	void *ctx;
};

/* Per-request state, owned by libmicrohttpd's con_cls slot from the first call
 * of on_access until req_completed. */
struct http_req_state {
	char *body;          /* NUL-terminated; grown up to HTTP_MAX_BODY + 1 */
	size_t body_len;
	size_t body_cap;
	int answered;        /* a response was queued before the body was read */
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

/* Turn a reply into a response and queue it. Consumes reply->body. A reply that
 * cannot be sent as asked (no status, bad header, missing file) becomes an API
 * error instead, so the client always gets a well-formed answer. */
static enum MHD_Result send_reply(struct MHD_Connection *conn, struct http_reply *reply)
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

	if (reply->file[0] != '\0') {
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
	return MHD_NO;
}

static enum MHD_Result send_error(struct MHD_Connection *conn, enum api_err e, const char *msg)
{
	struct http_reply reply;

	memset(&reply, 0, sizeof(reply));
	api_error(&reply, e, NULL, "%s", msg);
	return send_reply(conn, &reply);
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
	return send_reply(conn, &reply);
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
				 const char *method, const char *version,
				 const char *upload_data, size_t *upload_data_size,
				 void **con_cls)
{
	struct http_server *srv = cls;
	struct http_req_state *st = *con_cls;
	int rc;

	if (st == NULL) {
		/* Headers are in, no body has been read yet. */
		st = calloc(1, sizeof(*st));
		if (st == NULL)
			return MHD_NO;
		*con_cls = st;
		if (content_length_too_large(conn)) {
			/* Answering now, before the body, means it is never read: the
			 * connection is closed after the reply. */
			st->answered = 1;
			return send_error(conn, AE_TOO_LARGE, "The request body is too large.");
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

	if (st->too_large)
		return send_error(conn, AE_TOO_LARGE, "The request body is too large.");
	return call_handler(srv, conn, st, url, method);
}

static void req_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			  enum MHD_RequestTerminationCode toe)
{
	struct http_req_state *st = *con_cls;

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
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
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
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_IDLE_TIMEOUT,
				MHD_OPTION_NOTIFY_COMPLETED, req_completed, NULL,
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
		free(srv);
		srv = NULL;
		goto out;
	}

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
	if (srv == NULL)
		return;
	if (srv->daemon != NULL)
		MHD_stop_daemon(srv->daemon);
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
