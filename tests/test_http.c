/* test_http.c: the HTTP transport against a real server on 127.0.0.1, spoken to
 * with plain sockets so that what goes over the wire is exactly what we wrote. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <check.h>
#include <jansson.h>

#include "apierror.h"
#include "http.h"

/* What the test handler saw last; the handler runs on a server thread. */
static struct {
	pthread_mutex_t mu;
	int calls;
	char method[16];
	char path[256];
	size_t n_query;
	char qkey[HTTP_MAX_QUERY][64];
	char qval[HTTP_MAX_QUERY][64];
	char *body;           /* copy of req->body, or NULL when it was NULL */
	size_t body_len;
	int body_nul;         /* req->body[body_len] was '\0' */
	char remote[64];
	int missing_is_null;  /* http_query_get(req, "missing") == NULL */
} seen = { .mu = PTHREAD_MUTEX_INITIALIZER };

static struct http_server *srv;
static int srv_port;
static char file_path[64];
static const char file_text[] = "<html>hauld</html>\n";

static void test_handler(void *ctx, const struct http_request *req, struct http_reply *reply)
{
	size_t i;

	pthread_mutex_lock(&seen.mu);
	seen.calls++;
	snprintf(seen.method, sizeof(seen.method), "%s", req->method);
	snprintf(seen.path, sizeof(seen.path), "%s", req->path);
	seen.n_query = req->n_query;
	for (i = 0; i < req->n_query && i < HTTP_MAX_QUERY; i++) {
		snprintf(seen.qkey[i], sizeof(seen.qkey[i]), "%s", req->query[i].key);
		snprintf(seen.qval[i], sizeof(seen.qval[i]), "%s", req->query[i].value);
	}
	free(seen.body);
	seen.body = NULL;
	seen.body_len = req->body_len;
	seen.body_nul = 0;
	if (req->body != NULL) {
		seen.body = malloc(req->body_len ? req->body_len : 1);
		if (seen.body != NULL)
			memcpy(seen.body, req->body, req->body_len);
		seen.body_nul = req->body[req->body_len] == '\0';
	}
	snprintf(seen.remote, sizeof(seen.remote), "%s", req->remote ? req->remote : "(null)");
	seen.missing_is_null = http_query_get(req, "missing") == NULL;
	pthread_mutex_unlock(&seen.mu);

	if (strcmp(req->path, "/echo") == 0) {
		reply->status = 200;
		reply->body = json_pack("{s:b}", "ok", 1);
	} else if (strcmp(req->path, "/created") == 0) {
		reply->status = 201;
		reply->body = json_pack("{s:s}", "id", "abc");
		snprintf(reply->location, sizeof(reply->location), "/migrations/abc");
	} else if (strcmp(req->path, "/nostatus") == 0) {
		/* A body without a status: the transport must free it and say 500. */
		reply->body = json_pack("{s:s}", "leak", "me");
	} else if (strcmp(req->path, "/badstatus") == 0) {
		reply->status = 42;
	} else if (strcmp(req->path, "/string") == 0) {
		reply->status = 200;
		reply->body = json_string("not an object");
	} else if (strcmp(req->path, "/crlf") == 0) {
		reply->status = 303;
		snprintf(reply->location, sizeof(reply->location), "/a\r\nX-Evil: 1");
	} else if (strcmp(req->path, "/empty") == 0) {
		reply->status = 204;
	} else if (strcmp(req->path, "/file") == 0) {
		reply->status = 200;
		snprintf(reply->file, sizeof(reply->file), "%s", file_path);
		reply->content_type = "text/html; charset=utf-8";
	} else if (strcmp(req->path, "/nofile") == 0) {
		reply->status = 200;
		snprintf(reply->file, sizeof(reply->file), "/nonexistent/hauld/x.html");
		reply->content_type = "text/html";
	} else if (strcmp(req->path, "/dirfile") == 0) {
		reply->status = 200;
		snprintf(reply->file, sizeof(reply->file), "/tmp");
	} else {
		api_error(reply, AE_NOT_FOUND, NULL, "No route for %s.", req->path);
	}
}

static int seen_calls(void)
{
	int n;

	pthread_mutex_lock(&seen.mu);
	n = seen.calls;
	pthread_mutex_unlock(&seen.mu);
	return n;
}

static void setup(void)
{
	FILE *f;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	snprintf(file_path, sizeof(file_path), "/tmp/test_http.XXXXXX");
	fd = mkstemp(file_path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(file_text, f);
	fclose(f);

	pthread_mutex_lock(&seen.mu);
	seen.calls = 0;
	pthread_mutex_unlock(&seen.mu);
	srv_port = -1;
	srv = http_start("127.0.0.1", 0, NULL, test_handler, NULL, &srv_port);
	ck_assert_ptr_nonnull(srv);
	ck_assert_int_gt(srv_port, 0);
	ck_assert_int_le(srv_port, 65535);
}

static void teardown(void)
{
	http_stop(srv);
	srv = NULL;
	unlink(file_path);
	pthread_mutex_lock(&seen.mu);
	free(seen.body);
	seen.body = NULL;
	pthread_mutex_unlock(&seen.mu);
}

static int connect_to(int port)
{
	struct sockaddr_in sin;
	struct timeval tv = { .tv_sec = 10 };
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* Send what we can; the server may close early (that is what a 413 does), so
 * write errors are not failures here. Returns 0 when everything was sent. */
static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

struct resp {
	char *raw;       /* whole response, NUL-terminated */
	size_t len;
	int status;
	char *headers;   /* copy of the header block, NUL-terminated */
	const char *body;
	size_t body_len;
};

/* Read until the server closes (every request says Connection: close). */
static void read_resp(int fd, struct resp *r)
{
	size_t cap = 4096;
	char *end;
	ssize_t n;

	memset(r, 0, sizeof(*r));
	r->raw = malloc(cap);
	ck_assert_ptr_nonnull(r->raw);
	for (;;) {
		if (cap - r->len < 1024) {
			cap *= 2;
			r->raw = realloc(r->raw, cap);
			ck_assert_ptr_nonnull(r->raw);
		}
		n = recv(fd, r->raw + r->len, cap - r->len - 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		/* A reset after the reply (body left unread) still leaves the reply. */
		if (n <= 0)
			break;
		r->len += (size_t)n;
	}
	r->raw[r->len] = '\0';
	close(fd);

	ck_assert_msg(sscanf(r->raw, "HTTP/1.1 %d", &r->status) == 1,
		      "no status line in [%s]", r->raw);
	end = strstr(r->raw, "\r\n\r\n");
	ck_assert_ptr_nonnull(end);
	r->headers = strndup(r->raw, (size_t)(end - r->raw) + 2);
	ck_assert_ptr_nonnull(r->headers);
	r->body = end + 4;
	r->body_len = r->len - (size_t)(r->body - r->raw);
}

static void resp_free(struct resp *r)
{
	free(r->raw);
	free(r->headers);
}

/* Value of a response header (into buf), or NULL when absent. */
static const char *resp_header(const struct resp *r, const char *name, char *buf, size_t len)
{
	char pat[64];
	const char *p, *e;

	snprintf(pat, sizeof(pat), "\r\n%s:", name);
	p = strcasestr(r->headers, pat);
	if (p == NULL)
		return NULL;
	p += strlen(pat);
	while (*p == ' ')
		p++;
	e = strstr(p, "\r\n");
	snprintf(buf, len, "%.*s", (int)(e - p), p);
	return buf;
}

static void exchange(const char *req, size_t len, struct resp *r)
{
	int fd = connect_to(srv_port);

	send_all(fd, req, len);
	read_resp(fd, r);
}

static void get(const char *target, struct resp *r)
{
	char req[2048];
	int n;

	n = snprintf(req, sizeof(req),
		     "GET %s HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n", target);
	exchange(req, (size_t)n, r);
}

/* The error code and field (NULL: null) in an API error body. */
static void check_error(const struct resp *r, const char *code, const char *field)
{
	json_error_t jerr;
	json_t *j, *err;
	char ct[128];

	ck_assert_ptr_nonnull(resp_header(r, "Content-Type", ct, sizeof(ct)));
	ck_assert_str_eq(ct, "application/json");
	j = json_loadb(r->body, r->body_len, 0, &jerr);
	ck_assert_msg(j != NULL, "bad JSON [%s]", r->body);
	err = json_object_get(j, "error");
	ck_assert(json_is_object(err));
	ck_assert_str_eq(json_string_value(json_object_get(err, "code")), code);
	ck_assert(json_is_string(json_object_get(err, "message")));
	if (field == NULL)
		ck_assert(json_is_null(json_object_get(err, "field")));
	else
		ck_assert_str_eq(json_string_value(json_object_get(err, "field")), field);
	json_decref(j);
}

static void check_error_body(const struct resp *r, const char *code)
{
	check_error(r, code, NULL);
}

START_TEST(test_get_query)
{
	struct resp r;
	char buf[128];

	get("/echo?a=1&b=two%20words&flag", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(resp_header(&r, "Content-Type", buf, sizeof(buf)), "application/json");
	ck_assert_str_eq(resp_header(&r, "Cache-Control", buf, sizeof(buf)), "no-store");
	ck_assert_int_eq(r.body_len, strlen("{\"ok\":true}"));
	ck_assert(memcmp(r.body, "{\"ok\":true}", r.body_len) == 0);
	resp_free(&r);

	pthread_mutex_lock(&seen.mu);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_str_eq(seen.method, "GET");
	ck_assert_str_eq(seen.path, "/echo");
	ck_assert_uint_eq(seen.n_query, 3);
	ck_assert_str_eq(seen.qkey[0], "a");
	ck_assert_str_eq(seen.qval[0], "1");
	ck_assert_str_eq(seen.qkey[1], "b");
	ck_assert_str_eq(seen.qval[1], "two words");
	ck_assert_str_eq(seen.qkey[2], "flag");
	ck_assert_str_eq(seen.qval[2], "");
	ck_assert_ptr_null(seen.body);
	ck_assert_uint_eq(seen.body_len, 0);
	ck_assert_str_eq(seen.remote, "127.0.0.1");
	ck_assert_int_eq(seen.missing_is_null, 1);
	pthread_mutex_unlock(&seen.mu);
}
END_TEST

START_TEST(test_query_capped)
{
	char target[1024];
	struct resp r;
	size_t off;
	int i;

	off = (size_t)snprintf(target, sizeof(target), "/echo?");
	for (i = 0; i < HTTP_MAX_QUERY + 8; i++)
		off += (size_t)snprintf(target + off, sizeof(target) - off, "k%d=v%d&", i, i);
	get(target, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	pthread_mutex_lock(&seen.mu);
	ck_assert_uint_eq(seen.n_query, HTTP_MAX_QUERY);
	ck_assert_str_eq(seen.qkey[HTTP_MAX_QUERY - 1], "k15");
	pthread_mutex_unlock(&seen.mu);
}
END_TEST

/* POST a body of len bytes with a Content-Length and check it arrives as sent. */
static void post_intact(size_t len)
{
	char head[256];
	struct resp r;
	char *body;
	size_t i;
	int fd, n;

	body = malloc(len);
	ck_assert_ptr_nonnull(body);
	/* Every byte value but NUL, so a lost or moved byte shows. */
	for (i = 0; i < len; i++)
		body[i] = (char)(1 + (i * 7) % 255);
	n = snprintf(head, sizeof(head),
		     "POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
		     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n", len);
	fd = connect_to(srv_port);
	ck_assert_int_eq(send_all(fd, head, (size_t)n), 0);
	ck_assert_int_eq(send_all(fd, body, len), 0);
	read_resp(fd, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	pthread_mutex_lock(&seen.mu);
	ck_assert_int_eq(seen.calls, 1);
	ck_assert_str_eq(seen.method, "POST");
	ck_assert_uint_eq(seen.body_len, len);
	ck_assert_ptr_nonnull(seen.body);
	ck_assert(memcmp(seen.body, body, len) == 0);
	ck_assert_int_eq(seen.body_nul, 1);
	pthread_mutex_unlock(&seen.mu);
	free(body);
}

START_TEST(test_post_body)
{
	post_intact(10000);
}
END_TEST

START_TEST(test_post_body_at_cap)
{
	post_intact(HTTP_MAX_BODY);
}
END_TEST

START_TEST(test_post_chunked_ok)
{
	static const char req[] =
		"POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
		"Transfer-Encoding: chunked\r\n\r\n"
		"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n";
	struct resp r;

	exchange(req, sizeof(req) - 1, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);

	pthread_mutex_lock(&seen.mu);
	ck_assert_uint_eq(seen.body_len, 11);
	ck_assert(memcmp(seen.body, "hello world", 11) == 0);
	pthread_mutex_unlock(&seen.mu);
}
END_TEST

/* Only headers are sent: the 413 must come without the body being read. */
static void too_large_headers(const char *extra, int api_body)
{
	char req[512];
	struct resp r;
	int n;

	n = snprintf(req, sizeof(req),
		     "POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n%s\r\n", extra);
	exchange(req, (size_t)n, &r);
	ck_assert_int_eq(r.status, 413);
	if (api_body)
		check_error_body(&r, "body_too_large");
	resp_free(&r);
	ck_assert_int_eq(seen_calls(), 0);
}

START_TEST(test_413_content_length)
{
	too_large_headers("Content-Length: 65537\r\n", 1);
}
END_TEST

START_TEST(test_413_content_length_huge)
{
	/* A length past 64 bits is refused by libmicrohttpd itself, with its own
	 * HTML body, before our handler runs: only the status is ours to check. */
	too_large_headers("Content-Length: 99999999999999999999999999\r\n", 0);
}
END_TEST

START_TEST(test_413_expect_continue)
{
	/* With Expect: 100-continue the client waits; it must get 413, not 100. */
	too_large_headers("Content-Length: 1000000\r\nExpect: 100-continue\r\n", 1);
}
END_TEST

START_TEST(test_413_chunked)
{
	static const char head[] =
		"POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
		"Transfer-Encoding: chunked\r\n\r\n";
	char chunk[4096 + 16];
	struct resp r;
	int fd, i, n;

	n = snprintf(chunk, sizeof(chunk), "1000\r\n");
	memset(chunk + n, 'x', 4096);
	memcpy(chunk + n + 4096, "\r\n", 2);
	n += 4096 + 2;

	fd = connect_to(srv_port);
	send_all(fd, head, sizeof(head) - 1);
	/* 20 chunks of 4 KiB is 80 KiB, over the cap; stop if the server hung up. */
	for (i = 0; i < 20; i++)
		if (send_all(fd, chunk, (size_t)n) < 0)
			break;
	send_all(fd, "0\r\n\r\n", 5);
	read_resp(fd, &r);
	ck_assert_int_eq(r.status, 413);
	check_error_body(&r, "body_too_large");
	resp_free(&r);
	ck_assert_int_eq(seen_calls(), 0);
}
END_TEST

/* GET /echo?pad=ppp... with a request target of target_len bytes and, when
 * header_len is not 0, an X-Pad header whose name and value take header_len bytes
 * (with Host and Connection: "Host" "test" "Connection" "close", 23 bytes more).
 * The request is built on the heap: it may be far larger than a stack buffer. */
static char *long_request(size_t target_len, size_t header_len, size_t *len)
{
	static const char pre[] = "/echo?pad=";
	size_t cap = target_len + header_len + 128, n = 0;
	char *req = malloc(cap);

	ck_assert_ptr_nonnull(req);
	ck_assert_uint_ge(target_len, sizeof(pre) - 1);
	n += (size_t)snprintf(req, cap, "GET %s", pre);
	memset(req + n, 'p', target_len - (sizeof(pre) - 1));
	n += target_len - (sizeof(pre) - 1);
	n += (size_t)snprintf(req + n, cap - n, " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
	if (header_len > 0) {
		ck_assert_uint_ge(header_len, 5);
		n += (size_t)snprintf(req + n, cap - n, "X-Pad: ");
		memset(req + n, 'h', header_len - 5);
		n += header_len - 5;
		n += (size_t)snprintf(req + n, cap - n, "\r\n");
	}
	n += (size_t)snprintf(req + n, cap - n, "\r\n");
	ck_assert_uint_lt(n, cap);
	*len = n;
	return req;
}

static void long_exchange(size_t target_len, size_t header_len, struct resp *r)
{
	size_t len;
	char *req = long_request(target_len, header_len, &len);

	exchange(req, len, r);
	free(req);
}

/* A request with a target of url_len bytes and header_len bytes of headers is
 * answered with status and the JSON error code naming field. */
static void expect_refused(size_t url_len, size_t header_len, int status, const char *code,
			   const char *field)
{
	struct resp r;

	long_exchange(url_len, header_len, &r);
	ck_assert_int_eq(r.status, status);
	check_error(&r, code, field);
	resp_free(&r);
}

START_TEST(test_414_url)
{
	struct resp r;

	long_exchange(HTTP_MAX_URL, 0, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	ck_assert_int_eq(seen_calls(), 1);

	/* One byte over, and well over but within what libmicrohttpd holds. */
	expect_refused(HTTP_MAX_URL + 1, 0, 414, "uri_too_long", "url");
	expect_refused(48 * 1024, 0, 414, "uri_too_long", "url");
	ck_assert_int_eq(seen_calls(), 1);
}
END_TEST

START_TEST(test_431_headers)
{
	struct resp r;

	long_exchange(16, HTTP_MAX_HEADERS - 23, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	ck_assert_int_eq(seen_calls(), 1);

	expect_refused(16, HTTP_MAX_HEADERS - 22, 431, "headers_too_large", "headers");
	/* Both over: the URL is named, as it is the first thing read. */
	expect_refused(HTTP_MAX_URL + 1, 40 * 1024, 414, "uri_too_long", "url");
	ck_assert_int_eq(seen_calls(), 1);
}
END_TEST

/* Past libmicrohttpd's buffer it answers itself (see SECURITY.md) or the
 * connection is cut; the server must go on answering either way. */
START_TEST(test_url_over_buffer)
{
	char buf[512];
	struct resp r;
	size_t len;
	ssize_t n;
	char *req = long_request(1024 * 1024, 0, &len);
	int fd = connect_to(srv_port);

	send_all(fd, req, len);
	free(req);
	n = recv(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		ck_assert_msg(strncmp(buf, "HTTP/1.1 414 ", 13) == 0, "got [%s]", buf);
	}
	ck_assert_int_eq(seen_calls(), 0);

	get("/echo", &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

START_TEST(test_chunked_endless)
{
	static const char head[] =
		"POST /echo HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
		"Transfer-Encoding: chunked\r\n\r\n";
	char chunk[65536 + 16];
	struct resp r;
	char buf[512];
	ssize_t got = 0, n;
	int fd, i, len;

	len = snprintf(chunk, sizeof(chunk), "10000\r\n");
	memset(chunk + len, 'y', 65536);
	memcpy(chunk + len + 65536, "\r\n", 2);
	len += 65536 + 2;

	/* 4 MiB with no end: the server must hang up rather than read it all or
	 * wait for more, and never call the handler. A server still waiting
	 * would let recv time out (EAGAIN) instead of ending the connection. */
	fd = connect_to(srv_port);
	send_all(fd, head, sizeof(head) - 1);
	for (i = 0; i < 64; i++)
		if (send_all(fd, chunk, (size_t)len) < 0)
			break;
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		got += n;
	ck_assert_msg(n == 0 || errno == ECONNRESET, "connection not closed: %s",
		      strerror(errno));
	close(fd);
	ck_assert_int_eq(got, 0);
	ck_assert_int_eq(seen_calls(), 0);

	get("/echo", &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

START_TEST(test_location)
{
	struct resp r;
	char buf[256];

	get("/created", &r);
	ck_assert_int_eq(r.status, 201);
	ck_assert_ptr_nonnull(resp_header(&r, "Location", buf, sizeof(buf)));
	ck_assert_str_eq(buf, "/migrations/abc");
	resp_free(&r);

	/* No Location header when the handler set none. */
	get("/echo", &r);
	ck_assert_ptr_null(resp_header(&r, "Location", buf, sizeof(buf)));
	resp_free(&r);
}
END_TEST

START_TEST(test_no_status_is_500)
{
	struct resp r;

	get("/nostatus", &r);
	ck_assert_int_eq(r.status, 500);
	check_error_body(&r, "internal");
	resp_free(&r);

	get("/badstatus", &r);
	ck_assert_int_eq(r.status, 500);
	check_error_body(&r, "internal");
	resp_free(&r);

	/* json_dumps refuses a bare string: still a well-formed 500. */
	get("/string", &r);
	ck_assert_int_eq(r.status, 500);
	check_error_body(&r, "internal");
	resp_free(&r);
}
END_TEST

START_TEST(test_header_injection)
{
	struct resp r;
	char buf[64];

	get("/crlf", &r);
	ck_assert_int_eq(r.status, 500);
	ck_assert_ptr_null(resp_header(&r, "X-Evil", buf, sizeof(buf)));
	check_error_body(&r, "internal");
	resp_free(&r);
}
END_TEST

START_TEST(test_empty_body)
{
	struct resp r;
	char buf[64];

	get("/empty", &r);
	ck_assert_int_eq(r.status, 204);
	ck_assert_uint_eq(r.body_len, 0);
	ck_assert_ptr_null(resp_header(&r, "Content-Type", buf, sizeof(buf)));
	resp_free(&r);
}
END_TEST

START_TEST(test_file)
{
	struct resp r;
	char buf[128];

	get("/file", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(resp_header(&r, "Content-Type", buf, sizeof(buf)),
			 "text/html; charset=utf-8");
	ck_assert_uint_eq(r.body_len, strlen(file_text));
	ck_assert(memcmp(r.body, file_text, r.body_len) == 0);
	resp_free(&r);

	get("/nofile", &r);
	ck_assert_int_eq(r.status, 404);
	check_error_body(&r, "not_found");
	resp_free(&r);

	/* A directory is not a file to send. */
	get("/dirfile", &r);
	ck_assert_int_eq(r.status, 404);
	check_error_body(&r, "not_found");
	resp_free(&r);
}
END_TEST

START_TEST(test_unknown_route)
{
	struct resp r;

	get("/nope", &r);
	ck_assert_int_eq(r.status, 404);
	check_error_body(&r, "not_found");
	resp_free(&r);
}
END_TEST

START_TEST(test_garbage)
{
	static const char junk[] = "\x01\x02 NOT HTTP \xff\xfe\r\n\r\n";
	struct resp r;
	int fd;

	/* The server must answer or hang up, and keep serving afterwards. */
	fd = connect_to(srv_port);
	send_all(fd, junk, sizeof(junk) - 1);
	{
		char buf[512];
		while (recv(fd, buf, sizeof(buf), 0) > 0)
			;
	}
	close(fd);
	ck_assert_int_eq(seen_calls(), 0);

	get("/echo", &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
}
END_TEST

START_TEST(test_start_errors)
{
	struct http_server *s, *again;
	int port = -1;

	http_stop(NULL);
	ck_assert_ptr_null(http_start("127.0.0.1", -1, NULL, test_handler, NULL, &port));
	ck_assert_ptr_null(http_start("127.0.0.1", 65536, NULL, test_handler, NULL, &port));
	ck_assert_ptr_null(http_start("127.0.0.1", 0, NULL, NULL, NULL, &port));
	/* A documentation address (RFC 5737) is never ours to bind. */
	ck_assert_ptr_null(http_start("192.0.2.1", 0, NULL, test_handler, NULL, &port));
	ck_assert_int_eq(port, -1);

	/* The port the fixture's server holds cannot be taken twice. */
	again = http_start("127.0.0.1", srv_port, NULL, test_handler, NULL, &port);
	ck_assert_ptr_null(again);

	/* "localhost" resolves; the real port is read back and serves. */
	s = http_start("localhost", 0, NULL, test_handler, NULL, &port);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_gt(port, 0);
	ck_assert_int_ne(port, srv_port);
	{
		struct resp r;
		int fd = connect_to(port);
		static const char req[] = "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";

		send_all(fd, req, sizeof(req) - 1);
		read_resp(fd, &r);
		ck_assert_int_eq(r.status, 200);
		resp_free(&r);
	}
	http_stop(s);
}
END_TEST

/* 1 when this machine can listen on ::1 at all. */
static int have_ipv6_loopback(void)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int fd, ok;

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	ok = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == 0;
	close(fd);
	return ok;
}

START_TEST(test_ipv6)
{
	static const char req[] = "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	struct timeval tv = { .tv_sec = 10 };
	struct http_server *s;
	struct resp r;
	int fd, port = -1;

	if (!have_ipv6_loopback()) {
		fprintf(stderr, "test_ipv6: no IPv6 loopback here, skipped\n");
		return;
	}
	s = http_start("[::1]", 0, NULL, test_handler, NULL, &port);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_gt(port, 0);

	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sin6.sin6_port = htons((uint16_t)port);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin6, sizeof(sin6)), 0);
	ck_assert_int_eq(send_all(fd, req, sizeof(req) - 1), 0);
	read_resp(fd, &r);
	ck_assert_int_eq(r.status, 200);
	resp_free(&r);
	http_stop(s);

	pthread_mutex_lock(&seen.mu);
	ck_assert_str_eq(seen.remote, "::1");
	pthread_mutex_unlock(&seen.mu);
}
END_TEST

START_TEST(test_query_get_null)
{
	struct http_query_param q[2] = { { "a", "1" }, { "b", "2" } };
	struct http_request req = { .query = q, .n_query = 2 };

	ck_assert_str_eq(http_query_get(&req, "b"), "2");
	ck_assert_ptr_null(http_query_get(&req, "c"));
	ck_assert_ptr_null(http_query_get(&req, NULL));
	ck_assert_ptr_null(http_query_get(NULL, "a"));
	req.query = NULL;
	ck_assert_ptr_null(http_query_get(&req, "a"));
}
END_TEST

static Suite *http_suite(void)
{
	Suite *s = suite_create("http");
	TCase *tc = tcase_create("server");

	/* A checked fixture runs in the forked child, where the server threads
	 * must live. */
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_get_query);
	tcase_add_test(tc, test_query_capped);
	tcase_add_test(tc, test_post_body);
	tcase_add_test(tc, test_post_body_at_cap);
	tcase_add_test(tc, test_post_chunked_ok);
	tcase_add_test(tc, test_413_content_length);
	tcase_add_test(tc, test_413_content_length_huge);
	tcase_add_test(tc, test_413_expect_continue);
	tcase_add_test(tc, test_413_chunked);
	tcase_add_test(tc, test_414_url);
	tcase_add_test(tc, test_431_headers);
	tcase_add_test(tc, test_url_over_buffer);
	tcase_add_test(tc, test_chunked_endless);
	tcase_add_test(tc, test_location);
	tcase_add_test(tc, test_no_status_is_500);
	tcase_add_test(tc, test_header_injection);
	tcase_add_test(tc, test_empty_body);
	tcase_add_test(tc, test_file);
	tcase_add_test(tc, test_unknown_route);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_start_errors);
	tcase_add_test(tc, test_ipv6);
	suite_add_tcase(s, tc);

	tc = tcase_create("query");
	tcase_add_test(tc, test_query_get_null);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(http_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
