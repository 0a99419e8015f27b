/* test_peer.c: unit tests for src/peer.c over socketpairs, with a thread for the
 * other side where both sides must run at once. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <zstd.h>

#include "peer.h"
#include "relay.h"
#include "util.h"

#define SECRET "correct horse battery staple"
#define T_MS   5000

static char tmpdir[64];

static void setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_peer.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	/* The default disposition: a SIGPIPE from a closed socket would kill us. */
	signal(SIGPIPE, SIG_DFL);
}

static void teardown(void)
{
	rm_rf(tmpdir);
}

/* dir "/" rel into buf, which must hold it. */
static char *jpath(char *buf, size_t len, const char *dir, const char *rel)
{
	int n = snprintf(buf, len, "%s/%s", dir, rel);

	ck_assert(n > 0 && (size_t)n < len);
	return buf;
}

static char *tpath(char *buf, size_t len, const char *rel)
{
	return jpath(buf, len, tmpdir, rel);
}

#define PEER_HDR_LEN_T 12   /* the frame header's length (peer.c) */

static void make_pair(int sv[2])
{
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

/* Forget two connections' keys; their fds stay for close_pair. */
static void seal_free_both(struct peer_conn *a, struct peer_conn *b)
{
	a->fd = b->fd = -1;
	peer_conn_release(a);
	peer_conn_release(b);
}

static void close_pair(int sv[2])
{
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	sv[0] = sv[1] = -1;
}

/* A frame written by hand, so that it can be wrong in any way we like. */
static void raw_frame(int fd, const char *magic, int version, int type, int reserved,
		      uint32_t len, const void *payload, size_t plen)
{
	unsigned char h[12];

	memcpy(h, magic, 4);
	h[4] = (unsigned char)version;
	h[5] = (unsigned char)type;
	h[6] = 0;
	h[7] = (unsigned char)reserved;
	h[8] = (unsigned char)(len >> 24);
	h[9] = (unsigned char)(len >> 16);
	h[10] = (unsigned char)(len >> 8);
	h[11] = (unsigned char)len;
	ck_assert_int_eq(write_full(fd, h, sizeof(h)), 0);
	if (plen)
		ck_assert_int_eq(write_full(fd, payload, plen), 0);
}

static void raw_text(int fd, int type, const char *s)
{
	raw_frame(fd, "HLD1", PEER_PROTO_VERSION, type, 0, (uint32_t)strlen(s), s, strlen(s));
}

static void sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;

	ck_assert_int_eq(EVP_Digest(buf, len, md, &n, EVP_sha256(), NULL), 1);
	ck_assert_int_eq(n, 32);
	hex_encode(md, n, out);
}

static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The other side of a test, run in a thread. */
struct side {
	pthread_t th;
	int fd;
	int timeout;
	const char *secret;
	const char *channel;
	char chan_out[PEER_NAME_MAX];
	int dirfd;
	const void *raw;
	size_t rawlen;
	int ret, files;
	int64_t bytes;
	uint64_t sent, received;
	struct peer_conn conn;     /* th_auth_server's, keys and all */
};

static void *th_auth_server(void *arg)
{
	struct side *s = arg;

	peer_conn_init(&s->conn, s->fd, s->timeout);
	s->ret = peer_auth_server(&s->conn, s->secret, strlen(s->secret), s->chan_out);
	return NULL;
}

static void *th_send_dir(void *arg)
{
	struct side *s = arg;
	struct peer_conn c;

	peer_conn_init(&c, s->fd, s->timeout);
	s->ret = peer_send_dir(&c, s->dirfd, &s->files, &s->bytes);
	s->sent = c.bytes_sent;
	return NULL;
}

/* Write raw bytes; errors are expected when the receiver gives up early, and
 * MSG_NOSIGNAL keeps that from killing the test. */
static void *th_write_raw(void *arg)
{
	struct side *s = arg;
	const char *p = s->raw;
	size_t left = s->rawlen;
	ssize_t n;

	s->ret = 0;
	while (left > 0) {
		n = send(s->fd, p, left, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			s->ret = -errno;
			break;
		}
		p += n;
		left -= (size_t)n;
	}
	return NULL;
}

static void side_start(struct side *s, void *(*fn)(void *))
{
	ck_assert_int_eq(pthread_create(&s->th, NULL, fn, s), 0);
}

static void side_join(struct side *s)
{
	ck_assert_int_eq(pthread_join(s->th, NULL), 0);
}

/* ---- frames ---- */

static void *th_send_frames(void *arg)
{
	struct side *s = arg;
	struct peer_conn c;
	unsigned char *big = malloc(PEER_MAX_FRAME);
	size_t i;

	peer_conn_init(&c, s->fd, s->timeout);
	s->ret = -ENOMEM;
	if (!big)
		return NULL;
	for (i = 0; i < PEER_MAX_FRAME; i++)
		big[i] = (unsigned char)(i * 7 + 3);
	s->ret = peer_send_frame(&c, PEER_FT_JSON, "{}", 2);
	if (s->ret == 0)
		s->ret = peer_send_frame(&c, PEER_FT_DATA, NULL, 0);
	if (s->ret == 0)
		s->ret = peer_send_frame(&c, PEER_FT_DATA, "z", 1);
	if (s->ret == 0)
		s->ret = peer_send_frame(&c, PEER_FT_DATA, big, PEER_MAX_FRAME);
	s->sent = c.bytes_sent;
	free(big);
	return NULL;
}

START_TEST(test_frame_roundtrip)
{
	int sv[2];
	struct side s = { .timeout = T_MS };
	struct peer_conn c;
	unsigned char *buf = malloc(PEER_MAX_FRAME);
	uint8_t type = 0;
	size_t len = 0, i;

	ck_assert_ptr_nonnull(buf);
	make_pair(sv);
	s.fd = sv[1];
	side_start(&s, th_send_frames);
	peer_conn_init(&c, sv[0], T_MS);

	ck_assert_int_eq(peer_recv_frame(&c, &type, buf, PEER_MAX_FRAME, &len), 0);
	ck_assert_int_eq(type, PEER_FT_JSON);
	ck_assert_int_eq(len, 2);
	ck_assert(memcmp(buf, "{}", 2) == 0);
	ck_assert_int_eq(peer_recv_frame(&c, &type, buf, PEER_MAX_FRAME, &len), 0);
	ck_assert_int_eq(type, PEER_FT_DATA);
	ck_assert_int_eq(len, 0);
	ck_assert_int_eq(peer_recv_frame(&c, &type, buf, 1, &len), 0);
	ck_assert_int_eq(len, 1);
	ck_assert_int_eq(buf[0], 'z');
	ck_assert_int_eq(peer_recv_frame(&c, &type, buf, PEER_MAX_FRAME, &len), 0);
	ck_assert_int_eq(type, PEER_FT_DATA);
	ck_assert_int_eq(len, PEER_MAX_FRAME);
	for (i = 0; i < PEER_MAX_FRAME; i++)
		if (buf[i] != (unsigned char)(i * 7 + 3))
			ck_abort_msg("byte %zu differs", i);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	ck_assert_uint_eq(s.sent, 4 * 12 + 2 + 0 + 1 + PEER_MAX_FRAME);
	ck_assert_uint_eq(c.bytes_received, s.sent);
	ck_assert_uint_eq(c.bytes_sent, 0);
	close_pair(sv);
	free(buf);
}
END_TEST

START_TEST(test_json_roundtrip)
{
	int sv[2];
	struct peer_conn a, b;
	json_t *m = json_pack("{s:i, s:s}", "a", 1, "s", "x\xc3\xa9"), *got = NULL, *big, *arr;
	char *s;

	make_pair(sv);
	peer_conn_init(&a, sv[0], T_MS);
	peer_conn_init(&b, sv[1], T_MS);
	ck_assert_int_eq(peer_send_json(&a, m), 0);
	ck_assert_int_eq(peer_recv_json(&b, &got), 0);
	ck_assert(json_equal(m, got));
	json_decref(got);
	got = NULL;

	/* Too large to send: refused before anything is written. */
	s = calloc(1, PEER_MAX_JSON + 1);
	ck_assert_ptr_nonnull(s);
	memset(s, 'q', PEER_MAX_JSON);
	big = json_pack("{s:s}", "q", s);
	ck_assert_int_eq(peer_send_json(&a, big), -EMSGSIZE);
	arr = json_array();
	ck_assert_int_eq(peer_send_json(&a, arr), -EINVAL);
	ck_assert_int_eq(peer_send_json(&a, NULL), -EINVAL);
	ck_assert_int_eq(peer_send_json(&a, m), 0);
	ck_assert_int_eq(peer_recv_json(&b, &got), 0);
	ck_assert(json_equal(m, got));

	/* {"q":"..."} has 8 bytes of syntax: exactly PEER_MAX_JSON goes, one more
	 * does not. */
	json_decref(big);
	s[PEER_MAX_JSON - 7] = '\0';
	big = json_pack("{s:s}", "q", s);
	ck_assert_int_eq(peer_send_json(&a, big), -EMSGSIZE);
	json_decref(big);
	s[PEER_MAX_JSON - 8] = '\0';
	big = json_pack("{s:s}", "q", s);
	ck_assert_int_eq(peer_send_json(&a, big), 0);
	json_decref(got);
	ck_assert_int_eq(peer_recv_json(&b, &got), 0);
	ck_assert(json_equal(big, got));

	json_decref(got);
	json_decref(big);
	json_decref(arr);
	json_decref(m);
	free(s);
	close_pair(sv);
}
END_TEST

/* Write one raw frame to a fresh pair and return what peer_recv_json says. */
static int recv_json_of(int type, const char *payload)
{
	int sv[2], r;
	struct peer_conn c;
	json_t *got = (json_t *)1;

	make_pair(sv);
	raw_text(sv[1], type, payload);
	peer_conn_init(&c, sv[0], T_MS);
	r = peer_recv_json(&c, &got);
	ck_assert_ptr_null(got);
	close_pair(sv);
	return r;
}

START_TEST(test_recv_json_bad)
{
	int sv[2];
	struct peer_conn c;
	json_t *got = NULL;

	ck_assert_int_eq(recv_json_of(PEER_FT_JSON, "[1]"), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_JSON, "1"), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_JSON, "{"), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_JSON, ""), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_JSON, "{\"a\":1,\"a\":2}"), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_JSON, "{\"a\":1} {}"), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_JSON, "{\"a\":\"\xff\"}"), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_DATA, "{}"), -EPROTO);
	ck_assert_int_eq(recv_json_of(PEER_FT_FILE_END, "{}"), -EPROTO);

	/* A JSON frame over PEER_MAX_JSON is refused from its header. */
	make_pair(sv);
	raw_frame(sv[1], "HLD1", PEER_PROTO_VERSION, PEER_FT_JSON, 0, PEER_MAX_JSON + 1, NULL, 0);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_recv_json(&c, &got), -EMSGSIZE);
	ck_assert_int_eq(peer_recv_json(&c, NULL), -EINVAL);
	close_pair(sv);
}
END_TEST

START_TEST(test_recv_json_ok_returns_object)
{
	int sv[2];
	struct peer_conn c;
	json_t *got = NULL;

	make_pair(sv);
	raw_text(sv[1], PEER_FT_JSON, "{\"a\":[1,2],\"b\":null}");
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_recv_json(&c, &got), 0);
	ck_assert(json_is_object(got));
	ck_assert_int_eq(json_array_size(json_object_get(got, "a")), 2);
	json_decref(got);
	close_pair(sv);
}
END_TEST

START_TEST(test_oversized)
{
	int sv[2];
	struct peer_conn c;
	unsigned char buf[16], *big;
	uint8_t type;
	size_t len;
	char rest[8] = "";

	make_pair(sv);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_send_frame(&c, PEER_FT_DATA, buf, PEER_MAX_FRAME + 1), -EMSGSIZE);
	ck_assert_uint_eq(c.bytes_sent, 0);

	/* The payload of a refused frame is not read: what follows the header is
	 * still in the socket. */
	raw_frame(sv[1], "HLD1", PEER_PROTO_VERSION, PEER_FT_DATA, 0, PEER_MAX_FRAME + 1, "hello", 5);
	ck_assert_int_eq(peer_recv_frame(&c, &type, buf, sizeof(buf), &len), -EMSGSIZE);
	ck_assert_uint_eq(c.bytes_received, 12);
	ck_assert_int_eq(recv(sv[0], rest, sizeof(rest), MSG_DONTWAIT), 5);
	ck_assert(memcmp(rest, "hello", 5) == 0);

	/* Refused even when the caller's buffer would be large enough. */
	big = malloc(PEER_MAX_FRAME + 16);
	ck_assert_ptr_nonnull(big);
	raw_frame(sv[1], "HLD1", PEER_PROTO_VERSION, PEER_FT_DATA, 0, 0xffffffffu, NULL, 0);
	ck_assert_int_eq(peer_recv_frame(&c, &type, big, PEER_MAX_FRAME + 16, &len), -EMSGSIZE);
	free(big);

	/* Larger than the caller's buffer. */
	raw_frame(sv[1], "HLD1", PEER_PROTO_VERSION, PEER_FT_DATA, 0, 17, "0123456789abcdefg", 17);
	ck_assert_int_eq(peer_recv_frame(&c, &type, buf, sizeof(buf), &len), -EMSGSIZE);
	close_pair(sv);
}
END_TEST

/* Write one raw header to a fresh pair and return what peer_recv_frame says. */
static int recv_header_of(const char *magic, int version, int type, int reserved)
{
	int sv[2], r;
	struct peer_conn c;
	unsigned char buf[8];
	uint8_t t;
	size_t len;

	make_pair(sv);
	raw_frame(sv[1], magic, version, type, reserved, 2, "{}", 2);
	peer_conn_init(&c, sv[0], T_MS);
	r = peer_recv_frame(&c, &t, buf, sizeof(buf), &len);
	close_pair(sv);
	return r;
}

START_TEST(test_bad_header)
{
	ck_assert_int_eq(recv_header_of("HLD1", PEER_PROTO_VERSION, PEER_FT_JSON, 0), 0);
	ck_assert_int_eq(recv_header_of("HLD2", PEER_PROTO_VERSION, PEER_FT_JSON, 0), -EPROTO);
	ck_assert_int_eq(recv_header_of("GET ", PEER_PROTO_VERSION, PEER_FT_JSON, 0), -EPROTO);
	/* Version 1's frames (not sealed) and a version to come are refused. */
	ck_assert_int_eq(recv_header_of("HLD1", 1, PEER_FT_JSON, 0), -EPROTO);
	ck_assert_int_eq(recv_header_of("HLD1", 3, PEER_FT_JSON, 0), -EPROTO);
	ck_assert_int_eq(recv_header_of("HLD1", 0, PEER_FT_JSON, 0), -EPROTO);
	ck_assert_int_eq(recv_header_of("HLD1", PEER_PROTO_VERSION, 0, 0), -EPROTO);
	ck_assert_int_eq(recv_header_of("HLD1", PEER_PROTO_VERSION, PEER_FT_ZDATA + 1, 0), -EPROTO);
	ck_assert_int_eq(recv_header_of("HLD1", PEER_PROTO_VERSION, PEER_FT_JSON, 1), -EPROTO);
}
END_TEST

START_TEST(test_bad_args)
{
	struct peer_conn c;
	uint8_t t;
	size_t len;
	char ch[PEER_NAME_MAX];

	peer_conn_init(&c, -1, 0);
	ck_assert_int_eq(c.timeout_ms, 30000);
	ck_assert_int_eq(peer_send_frame(&c, PEER_FT_JSON, "{}", 2), -EINVAL);
	ck_assert_int_eq(peer_recv_frame(&c, &t, NULL, 0, &len), -EINVAL);
	ck_assert_int_eq(peer_auth_server(&c, SECRET, strlen(SECRET), ch), -EINVAL);
	ck_assert_int_eq(peer_send_dir(&c, AT_FDCWD, NULL, NULL), -EINVAL);
	c.fd = 0;
	ck_assert_int_eq(peer_send_frame(&c, 0, "{}", 2), -EINVAL);
	ck_assert_int_eq(peer_send_frame(&c, PEER_FT_ZDATA + 1, "{}", 2), -EINVAL);
	ck_assert_int_eq(peer_send_frame(&c, PEER_FT_DATA, NULL, 3), -EINVAL);
	c.fd = -1;
	peer_conn_release(&c);
	peer_conn_release(NULL);
}
END_TEST

START_TEST(test_timeout_recv)
{
	int sv[2];
	struct peer_conn c;
	unsigned char buf[8];
	json_t *got = NULL;
	uint8_t t;
	size_t len;
	int64_t t0, dt;

	make_pair(sv);
	peer_conn_init(&c, sv[0], 150);
	t0 = time_mono_ms();
	ck_assert_int_eq(peer_recv_frame(&c, &t, buf, sizeof(buf), &len), -ETIMEDOUT);
	dt = time_mono_ms() - t0;
	ck_assert_msg(dt >= 140 && dt < 3000, "waited %lld ms", (long long)dt);

	/* Half a header, then silence. */
	ck_assert_int_eq(write_full(sv[1], "HLD1\x01", 5), 0);
	ck_assert_int_eq(peer_recv_json(&c, &got), -ETIMEDOUT);
	ck_assert_ptr_null(got);
	close_pair(sv);
}
END_TEST

START_TEST(test_timeout_send)
{
	int sv[2], r = 0, i;
	struct peer_conn c;
	unsigned char *big = calloc(1, PEER_MAX_FRAME);
	int64_t t0;

	ck_assert_ptr_nonnull(big);
	make_pair(sv);
	peer_conn_init(&c, sv[0], 150);
	/* Nobody reads sv[1], so the socket buffer fills and a send must give up. */
	t0 = time_mono_ms();
	for (i = 0; i < 64 && r == 0; i++)
		r = peer_send_frame(&c, PEER_FT_DATA, big, PEER_MAX_FRAME);
	ck_assert_int_eq(r, -ETIMEDOUT);
	ck_assert(time_mono_ms() - t0 < 10000);
	close_pair(sv);
	free(big);
}
END_TEST

START_TEST(test_peer_closed)
{
	int sv[2];
	struct peer_conn c;
	unsigned char buf[8];
	uint8_t t;
	size_t len;

	make_pair(sv);
	peer_conn_init(&c, sv[0], T_MS);
	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(peer_recv_frame(&c, &t, buf, sizeof(buf), &len), -EPIPE);
	/* With SIGPIPE at its default, reaching the next line means no signal. */
	ck_assert_int_eq(peer_send_frame(&c, PEER_FT_JSON, "{}", 2), -EPIPE);
	peer_conn_release(&c);
	ck_assert_int_eq(c.fd, -1);
	sv[0] = -1;
}
END_TEST

START_TEST(test_peer_closed_mid_frame)
{
	int sv[2];
	struct peer_conn c;
	unsigned char buf[8];
	uint8_t t;
	size_t len;

	make_pair(sv);
	peer_conn_init(&c, sv[0], T_MS);
	raw_frame(sv[1], "HLD1", PEER_PROTO_VERSION, PEER_FT_DATA, 0, 8, "abc", 3);
	close(sv[1]);
	sv[1] = -1;
	ck_assert_int_eq(peer_recv_frame(&c, &t, buf, sizeof(buf), &len), -EPIPE);
	close_pair(sv);
}
END_TEST

/* ---- authentication ---- */

static void auth_run(const char *server_secret, const char *client_secret, const char *channel,
		     int *server_ret, int *client_ret, char *chan_out)
{
	int sv[2];
	struct side s = { .timeout = T_MS, .secret = server_secret };
	struct peer_conn c;

	make_pair(sv);
	s.fd = sv[1];
	side_start(&s, th_auth_server);
	peer_conn_init(&c, sv[0], T_MS);
	*client_ret = peer_auth_client(&c, client_secret, strlen(client_secret), channel);
	side_join(&s);
	*server_ret = s.ret;
	if (chan_out)
		memcpy(chan_out, s.chan_out, PEER_NAME_MAX);
	seal_free_both(&c, &s.conn);
	close_pair(sv);
}

START_TEST(test_auth_ok)
{
	int rs, rc;
	char ch[PEER_NAME_MAX];

	auth_run(SECRET, SECRET, "memory", &rs, &rc, ch);
	ck_assert_int_eq(rs, 0);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(ch, "memory");
	auth_run(SECRET, SECRET, "control", &rs, &rc, ch);
	ck_assert_int_eq(rs, 0);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(ch, "control");
}
END_TEST

START_TEST(test_auth_then_frames)
{
	int sv[2];
	struct side s = { .timeout = T_MS, .secret = SECRET };
	struct peer_conn c, srv;
	json_t *m = json_pack("{s:s}", "op", "hello"), *got = NULL;

	make_pair(sv);
	s.fd = sv[1];
	side_start(&s, th_auth_server);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), "control"), 0);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	/* The stream is in step after the exchange, sealed both ways. */
	peer_conn_move(&srv, &s.conn);
	ck_assert_ptr_nonnull(c.seal);
	ck_assert_ptr_nonnull(srv.seal);
	ck_assert_int_eq(peer_send_json(&c, m), 0);
	ck_assert_int_eq(peer_recv_json(&srv, &got), 0);
	ck_assert(json_equal(m, got));
	json_decref(got);
	ck_assert_int_eq(peer_send_json(&srv, m), 0);
	ck_assert_int_eq(peer_recv_json(&c, &got), 0);
	ck_assert(json_equal(m, got));
	json_decref(got);
	json_decref(m);
	seal_free_both(&c, &srv);
	close_pair(sv);
}
END_TEST

/* Two sealed ends: a client and a server connection after a real handshake, with
 * the server's fd swapped for one end of a second pair, so that the test sits in
 * the middle: what the client sends is read from sv[1] and written, as it is or
 * changed, to mid[0], where the server reads. */
struct sealed {
	int sv[2], mid[2];
	struct peer_conn c, srv;
};

static void sealed_open(struct sealed *x)
{
	struct side s = { .timeout = T_MS, .secret = SECRET };

	make_pair(x->sv);
	make_pair(x->mid);
	s.fd = x->sv[1];
	side_start(&s, th_auth_server);
	peer_conn_init(&x->c, x->sv[0], T_MS);
	ck_assert_int_eq(peer_auth_client(&x->c, SECRET, strlen(SECRET), "control"), 0);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	peer_conn_move(&x->srv, &s.conn);
	x->srv.fd = x->mid[1];
}

static void sealed_close(struct sealed *x)
{
	seal_free_both(&x->c, &x->srv);
	close_pair(x->sv);
	close_pair(x->mid);
}

/* The client sends {"n": n}; its bytes on the wire into buf (returns their count). */
static size_t sealed_capture(struct sealed *x, int n, unsigned char *buf, size_t cap)
{
	json_t *m = json_pack("{s:i}", "n", n);
	ssize_t got;

	ck_assert_int_eq(peer_send_json(&x->c, m), 0);
	json_decref(m);
	got = recv(x->sv[1], buf, cap, MSG_DONTWAIT);
	ck_assert_int_gt(got, PEER_HDR_LEN_T + PEER_TAG_LEN);
	return (size_t)got;
}

static int sealed_deliver(struct sealed *x, const unsigned char *buf, size_t len, int *n)
{
	json_t *got = NULL;
	int r;

	ck_assert_int_eq(write(x->mid[0], buf, len), (ssize_t)len);
	r = peer_recv_json(&x->srv, &got);
	if (r == 0)
		*n = (int)json_integer_value(json_object_get(got, "n"));
	json_decref(got);
	return r;
}

START_TEST(test_sealed_frames)
{
	unsigned char a[256], b[256], t[256];
	size_t la, lb;
	struct sealed x;
	int n = -1;

	/* In order, untouched: opened. The payload is not in the clear. */
	sealed_open(&x);
	la = sealed_capture(&x, 1, a, sizeof(a));
	lb = sealed_capture(&x, 2, b, sizeof(b));
	ck_assert_ptr_null(memmem(a, la, "\"n\"", 3));
	ck_assert_int_eq(sealed_deliver(&x, a, la, &n), 0);
	ck_assert_int_eq(n, 1);
	ck_assert_int_eq(sealed_deliver(&x, b, lb, &n), 0);
	ck_assert_int_eq(n, 2);
	/* Played again: refused, and nothing is read after. */
	ck_assert_int_eq(sealed_deliver(&x, b, lb, &n), -EBADMSG);
	ck_assert_int_eq(sealed_deliver(&x, a, la, &n), -EPROTO);
	sealed_close(&x);

	/* One bit of the payload changed. */
	sealed_open(&x);
	la = sealed_capture(&x, 1, a, sizeof(a));
	memcpy(t, a, la);
	t[PEER_HDR_LEN_T + 2] ^= 0x04;
	ck_assert_int_eq(sealed_deliver(&x, t, la, &n), -EBADMSG);
	sealed_close(&x);

	/* The header's type changed (it is authenticated too). */
	sealed_open(&x);
	la = sealed_capture(&x, 1, a, sizeof(a));
	memcpy(t, a, la);
	t[5] = PEER_FT_DATA;
	ck_assert_int_eq(sealed_deliver(&x, t, la, &n), -EBADMSG);
	sealed_close(&x);

	/* A frame dropped: the next one does not open. */
	sealed_open(&x);
	la = sealed_capture(&x, 1, a, sizeof(a));
	lb = sealed_capture(&x, 2, b, sizeof(b));
	ck_assert_int_eq(sealed_deliver(&x, b, lb, &n), -EBADMSG);
	sealed_close(&x);

	/* A frame of another connection (same secret, same channel). */
	sealed_open(&x);
	la = sealed_capture(&x, 1, a, sizeof(a));
	sealed_close(&x);
	sealed_open(&x);
	ck_assert_int_eq(sealed_deliver(&x, a, la, &n), -EBADMSG);
	sealed_close(&x);
}
END_TEST

START_TEST(test_auth_wrong_secret)
{
	int rs, rc;
	char ch[PEER_NAME_MAX];

	auth_run(SECRET, "correct horse battery stapler", "control", &rs, &rc, ch);
	ck_assert_int_eq(rs, -EACCES);
	ck_assert_int_eq(rc, -EACCES);
	ck_assert_str_eq(ch, "");
}
END_TEST

START_TEST(test_auth_client_args)
{
	int sv[2];
	struct peer_conn c;
	static const char *bad[] = { "", "Control", "con trol", "control1", "abcdefghijklmnopq",
				     "c-d" };
	size_t i;

	make_pair(sv);
	peer_conn_init(&c, sv[0], 100);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), bad[i]), -EINVAL);
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), NULL), -EINVAL);
	ck_assert_int_eq(peer_auth_client(&c, SECRET, 0, "control"), -EINVAL);
	ck_assert_int_eq(peer_auth_client(&c, NULL, 4, "control"), -EINVAL);
	/* Nothing was sent for any of them. */
	ck_assert_uint_eq(c.bytes_sent, 0);
	ck_assert_uint_eq(c.bytes_received, 0);
	/* Sixteen letters are allowed; no server greets, so it is not a hauld. */
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), "abcdefghijklmnop"),
			 -ENOMSG);
	close_pair(sv);
}
END_TEST

/* A server that does not know the secret but claims success. */
static void *th_fake_server(void *arg)
{
	struct side *s = arg;
	struct peer_conn c;
	json_t *m = NULL;
	char nonce[65], zeros[65];

	peer_conn_init(&c, s->fd, s->timeout);
	memset(nonce, 'a', 64);
	nonce[64] = '\0';
	memset(zeros, '0', 64);
	zeros[64] = '\0';
	m = json_pack("{s:s, s:i, s:s}", "hello", "hauld", "version", PEER_PROTO_VERSION,
		      "nonce", nonce);
	s->ret = peer_send_json(&c, m);
	json_decref(m);
	m = NULL;
	if (s->ret == 0)
		s->ret = peer_recv_json(&c, &m);
	json_decref(m);
	m = json_pack("{s:b, s:s}", "ok", 1, "mac", s->raw ? (const char *)s->raw : zeros);
	if (s->ret == 0)
		s->ret = peer_send_json(&c, m);
	json_decref(m);
	return NULL;
}

START_TEST(test_auth_fake_server)
{
	int sv[2];
	struct side s = { .timeout = T_MS };
	struct peer_conn c;

	make_pair(sv);
	s.fd = sv[1];
	side_start(&s, th_fake_server);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), "control"), -EACCES);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	close_pair(sv);

	/* A malformed mac is a protocol error. */
	make_pair(sv);
	s.fd = sv[1];
	s.raw = "00";
	side_start(&s, th_fake_server);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), "control"), -EPROTO);
	side_join(&s);
	close_pair(sv);
}
END_TEST

/* The client's answer to a server hello written by hand. */
static int client_vs_hello(const char *hello)
{
	int sv[2], r;
	struct peer_conn c;

	make_pair(sv);
	raw_text(sv[1], PEER_FT_JSON, hello);
	peer_conn_init(&c, sv[0], T_MS);
	r = peer_auth_client(&c, SECRET, strlen(SECRET), "control");
	close_pair(sv);
	return r;
}

START_TEST(test_auth_bad_hello)
{
	const char *n = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char buf[256];

	snprintf(buf, sizeof(buf), "{\"hello\":\"hauld\",\"version\":1,\"nonce\":\"%s\"}", n);
	ck_assert_int_eq(client_vs_hello(buf), -EPROTO);
	/* Not a hauld greeting at all: not a hauld peer port. */
	snprintf(buf, sizeof(buf), "{\"hello\":\"other\",\"version\":1,\"nonce\":\"%s\"}", n);
	ck_assert_int_eq(client_vs_hello(buf), -ENOMSG);
	snprintf(buf, sizeof(buf), "{\"hello\":\"hauld\",\"version\":1,\"nonce\":\"%.62s\"}", n);
	ck_assert_int_eq(client_vs_hello(buf), -EPROTO);
	snprintf(buf, sizeof(buf), "{\"hello\":\"hauld\",\"version\":1,\"nonce\":\"%.63sG\"}", n);
	ck_assert_int_eq(client_vs_hello(buf), -EPROTO);
	ck_assert_int_eq(client_vs_hello("{\"hello\":\"hauld\",\"version\":1}"), -EPROTO);
	ck_assert_int_eq(client_vs_hello("{\"hello\":\"hauld\",\"version\":1,\"nonce\":7}"),
			 -EPROTO);
}
END_TEST

/* A port that is not a hauld peer port: silent (an HTTP server waits for a request),
 * or talking another protocol (an SSH server greets first). Both are told apart from
 * a broken hauld, and a silent one within the greeting bound, not the connection's
 * whole timeout. */
START_TEST(test_auth_not_hauld)
{
	static const char ssh[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n";
	int sv[2];
	struct peer_conn c;
	int64_t t0;

	make_pair(sv);
	peer_conn_init(&c, sv[0], 60 * 1000);
	t0 = time_mono_ms();
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), "control"), -ENOMSG);
	ck_assert_int_lt(time_mono_ms() - t0, 60 * 1000);
	ck_assert_int_eq(c.timeout_ms, 60 * 1000);
	close_pair(sv);

	make_pair(sv);
	ck_assert_int_eq(write_full(sv[1], ssh, sizeof(ssh) - 1), 0);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), "control"), -ENOMSG);
	close_pair(sv);
}
END_TEST

/* A daemon that connects to its own peer port learns it from the greeting. */
START_TEST(test_auth_self)
{
	int sv[2], rs, rc;
	struct side s = { .timeout = T_MS, .secret = SECRET };
	struct peer_conn c;
	char ch[PEER_NAME_MAX];

	peer_instance_set("0123456789abcdef0123456789abcdef");
	make_pair(sv);
	s.fd = sv[1];
	side_start(&s, th_auth_server);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_auth_client(&c, SECRET, strlen(SECRET), "control"), -ELOOP);
	shutdown(sv[0], SHUT_RDWR);
	side_join(&s);
	ck_assert_int_ne(s.ret, 0);
	close_pair(sv);
	/* Another daemon's greeting (none here) is not ours. */
	peer_instance_set(NULL);
	auth_run(SECRET, SECRET, "control", &rs, &rc, ch);
	ck_assert_int_eq(rs, 0);
	ck_assert_int_eq(rc, 0);
}
END_TEST

/* The server's answer to a client message written by hand, and what it replied. */
static int server_vs_client(const char *msg, json_t **reply)
{
	int sv[2];
	struct side s = { .timeout = T_MS, .secret = SECRET };
	struct peer_conn c;
	json_t *hello = NULL;

	make_pair(sv);
	s.fd = sv[1];
	side_start(&s, th_auth_server);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_recv_json(&c, &hello), 0);
	ck_assert_str_eq(json_string_value(json_object_get(hello, "hello")), "hauld");
	ck_assert_int_eq(json_integer_value(json_object_get(hello, "version")), PEER_PROTO_VERSION);
	ck_assert_int_eq(strlen(json_string_value(json_object_get(hello, "nonce"))), 64);
	json_decref(hello);
	raw_text(sv[0], PEER_FT_JSON, msg);
	ck_assert_int_eq(peer_recv_json(&c, reply), 0);
	side_join(&s);
	close_pair(sv);
	return s.ret;
}

START_TEST(test_auth_bad_client)
{
	const char *h = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	char buf[512];
	json_t *reply = NULL;

	/* A well-formed message with a mac that cannot be right. */
	snprintf(buf, sizeof(buf), "{\"channel\":\"control\",\"nonce\":\"%s\",\"mac\":\"%s\"}", h, h);
	ck_assert_int_eq(server_vs_client(buf, &reply), -EACCES);
	ck_assert(json_is_false(json_object_get(reply, "ok")));
	ck_assert_str_eq(json_string_value(json_object_get(reply, "error")),
			 "authentication failed");
	ck_assert_ptr_null(json_object_get(reply, "mac"));
	json_decref(reply);

	snprintf(buf, sizeof(buf), "{\"channel\":\"Control\",\"nonce\":\"%s\",\"mac\":\"%s\"}", h, h);
	ck_assert_int_eq(server_vs_client(buf, &reply), -EPROTO);
	ck_assert(json_is_false(json_object_get(reply, "ok")));
	json_decref(reply);

	snprintf(buf, sizeof(buf), "{\"channel\":\"abcdefghijklmnopq\",\"nonce\":\"%s\",\"mac\":\"%s\"}",
		 h, h);
	ck_assert_int_eq(server_vs_client(buf, &reply), -EPROTO);
	json_decref(reply);

	snprintf(buf, sizeof(buf), "{\"channel\":\"control\",\"nonce\":\"%s\"}", h);
	ck_assert_int_eq(server_vs_client(buf, &reply), -EPROTO);
	json_decref(reply);
}
END_TEST

/* ---- names and files ---- */

START_TEST(test_name_ok)
{
	static const char *good[] = { "a", "pages-1.img", "A_b.c-d", "core-123.img", "x.", "0" };
	static const char *bad[] = { "", ".", "..", ".hidden", "-x", "_x", "a..b", "a/b", "../x",
				     "a b", "a\n", "x/../y", "a\\b", "\xc3\xa9" };
	char n[PEER_NAME_MAX + 2];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(good); i++)
		ck_assert_msg(peer_name_ok(good[i]), "refused \"%s\"", good[i]);
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		ck_assert_msg(!peer_name_ok(bad[i]), "accepted \"%s\"", bad[i]);
	ck_assert(!peer_name_ok(NULL));
	memset(n, 'a', PEER_NAME_MAX);
	n[PEER_NAME_MAX] = '\0';
	ck_assert(peer_name_ok(n));
	n[PEER_NAME_MAX] = 'a';
	n[PEER_NAME_MAX + 1] = '\0';
	ck_assert(!peer_name_ok(n));
}
END_TEST

static void write_file(const char *path, const void *buf, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write_full(fd, buf, len), 0);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

static void check_same(const char *a, const char *b)
{
	char *x = NULL, *y = NULL;
	size_t xl = 0, yl = 0;

	ck_assert_int_eq(file_read_all(a, 64 << 20, &x, &xl), 0);
	ck_assert_int_eq(file_read_all(b, 64 << 20, &y, &yl), 0);
	ck_assert_int_eq(xl, yl);
	ck_assert_msg(memcmp(x, y, xl) == 0, "%s and %s differ", a, b);
	free(x);
	free(y);
}

START_TEST(test_dir_transfer)
{
	static const struct { const char *name; size_t size; mode_t mode; } f[] = {
		{ "empty.img", 0, 0600 },
		{ "small.img", 100, 0644 },
		{ "exact.img", PEER_MAX_FRAME, 0600 },
		{ "pages-1.img", 3 * PEER_MAX_FRAME + 123, 0755 },
	};
	char src[PATH_MAX], dst[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	unsigned char *data;
	size_t i, maxsz = 3 * PEER_MAX_FRAME + 123;
	int sv[2], dfd, files = 0;
	int64_t bytes = 0, total = 0;
	struct side s = { .timeout = T_MS };
	struct peer_conn c;
	struct stat st;

	tpath(src, sizeof(src), "src");
	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(src, 0700), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	data = malloc(maxsz);
	ck_assert_ptr_nonnull(data);
	ck_assert_int_eq(random_bytes(data, maxsz), 0);
	for (i = 0; i < ARRAY_SIZE(f); i++) {
		jpath(a, sizeof(a), src, f[i].name);
		/* Different content per file: start at a different offset. */
		write_file(a, data + (maxsz - f[i].size), f[i].size, f[i].mode);
		total += (int64_t)f[i].size;
	}
	/* Not regular files: skipped by the sender. */
	jpath(a, sizeof(a), src, "sub");
	ck_assert_int_eq(mkdir(a, 0700), 0);
	jpath(a, sizeof(a), src, "link");
	ck_assert_int_eq(symlink("/etc/passwd", a), 0);
	jpath(a, sizeof(a), src, "fifo");
	ck_assert_int_eq(mkfifo(a, 0600), 0);

	make_pair(sv);
	s.fd = sv[1];
	s.dirfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(s.dirfd, 0);
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	side_start(&s, th_send_dir);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_recv_dir(&c, dfd, &files, &bytes), 0);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	ck_assert_int_eq(s.files, (int)ARRAY_SIZE(f));
	ck_assert_int_eq(s.bytes, total);
	ck_assert_int_eq(files, (int)ARRAY_SIZE(f));
	ck_assert_int_eq(bytes, total);
	ck_assert_uint_eq(c.bytes_received, s.sent);
	ck_assert(c.bytes_received > (uint64_t)total);

	ck_assert_int_eq(count_entries(dst), (int)ARRAY_SIZE(f));
	for (i = 0; i < ARRAY_SIZE(f); i++) {
		jpath(a, sizeof(a), src, f[i].name);
		jpath(b, sizeof(b), dst, f[i].name);
		check_same(a, b);
		ck_assert_int_eq(lstat(b, &st), 0);
		ck_assert(S_ISREG(st.st_mode));
		/* Never executable, never writable by others. */
		ck_assert_int_eq(st.st_mode & 0133, 0);
		ck_assert_int_eq(st.st_mode & 0400, 0400);
	}
	/* An empty directory is a transfer of nothing. */
	close_pair(sv);
	close(s.dirfd);
	close(dfd);
	free(data);
}
END_TEST

START_TEST(test_dir_empty)
{
	char src[PATH_MAX], dst[PATH_MAX];
	int sv[2], dfd, files = -1;
	int64_t bytes = -1;
	struct side s = { .timeout = T_MS };
	struct peer_conn c;

	tpath(src, sizeof(src), "src");
	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(src, 0700), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	make_pair(sv);
	s.fd = sv[1];
	s.dirfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	side_start(&s, th_send_dir);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_recv_dir(&c, dfd, &files, &bytes), 0);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	ck_assert_int_eq(files, 0);
	ck_assert_int_eq(bytes, 0);
	close_pair(sv);
	close(s.dirfd);
	close(dfd);
}
END_TEST

START_TEST(test_send_dir_bad_name)
{
	char src[PATH_MAX], a[PATH_MAX];
	int sv[2], dfd;
	struct peer_conn c;

	tpath(src, sizeof(src), "src");
	ck_assert_int_eq(mkdir(src, 0700), 0);
	jpath(a, sizeof(a), src, ".hidden");
	write_file(a, "x", 1, 0600);
	make_pair(sv);
	dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_send_dir(&c, dfd, NULL, NULL), -EINVAL);
	close(dfd);
	close_pair(sv);
}
END_TEST

/* Feed hand-written frames to peer_recv_dir in a fresh "dst" and return its result.
 * The frames are written by a thread, since they may not fit the socket buffer. */
struct rawbuf {
	unsigned char *p;
	size_t len, cap;
};

static void rb_add(struct rawbuf *b, int type, const void *payload, size_t len)
{
	unsigned char *tmp;
	size_t need = b->len + 12 + len;

	if (need > b->cap) {
		b->cap = need * 2;
		tmp = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(tmp);
		b->p = tmp;
	}
	memcpy(b->p + b->len, "HLD1", 4);
	b->p[b->len + 4] = PEER_PROTO_VERSION;
	b->p[b->len + 5] = (unsigned char)type;
	b->p[b->len + 6] = 0;
	b->p[b->len + 7] = 0;
	b->p[b->len + 8] = (unsigned char)(len >> 24);
	b->p[b->len + 9] = (unsigned char)(len >> 16);
	b->p[b->len + 10] = (unsigned char)(len >> 8);
	b->p[b->len + 11] = (unsigned char)len;
	if (len)
		memcpy(b->p + b->len + 12, payload, len);
	b->len = need;
}

static void rb_text(struct rawbuf *b, int type, const char *s)
{
	rb_add(b, type, s, strlen(s));
}

/* FILE, DATA (the content), FILE_END with its true hash. */
static void rb_file(struct rawbuf *b, const char *name, const char *content)
{
	char js[512], h[65];

	snprintf(js, sizeof(js), "{\"name\":\"%s\",\"size\":%zu,\"mode\":420}", name,
		 strlen(content));
	rb_text(b, PEER_FT_FILE, js);
	if (content[0])
		rb_text(b, PEER_FT_DATA, content);
	sha256_hex(content, strlen(content), h);
	snprintf(js, sizeof(js), "{\"sha256\":\"%s\"}", h);
	rb_text(b, PEER_FT_FILE_END, js);
}

static int recv_dir_raw_z(struct rawbuf *b, const char *dst, int *files, bool compress);

static int recv_dir_raw(struct rawbuf *b, const char *dst, int *files)
{
	return recv_dir_raw_z(b, dst, files, false);
}

/* As recv_dir_raw, by a receiver that accepts compressed frames when compress. */
static int recv_dir_raw_z(struct rawbuf *b, const char *dst, int *files, bool compress)
{
	int sv[2], dfd, r, n = -1;
	struct side s = { .timeout = T_MS };
	struct peer_conn c;

	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	make_pair(sv);
	s.fd = sv[1];
	s.raw = b->p;
	s.rawlen = b->len;
	side_start(&s, th_write_raw);
	peer_conn_init(&c, sv[0], T_MS);
	if (compress)
		ck_assert_int_eq(peer_compress_enable(&c, ZFRAME_ON), 0);
	r = peer_recv_dir(&c, dfd, &n, NULL);
	/* Closing our end unblocks a writer the receiver gave up on. */
	c.fd = -1;
	peer_conn_release(&c);
	close(sv[0]);
	side_join(&s);
	close(sv[1]);
	close(dfd);
	if (files)
		*files = n;
	free(b->p);
	memset(b, 0, sizeof(*b));
	return r;
}

START_TEST(test_dir_hostile_names)
{
	char dst[PATH_MAX], longname[201], js[512];
	const char *names[] = { "../x", "a/b", ".hidden", "", longname, "..", ".", "x/../y",
				"/tmp/x", "a..b", "x\\u0000y" };
	struct rawbuf b = { 0 };
	size_t i;
	int before;

	memset(longname, 'l', 200);
	longname[200] = '\0';
	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	before = count_entries(tmpdir);
	for (i = 0; i < ARRAY_SIZE(names); i++) {
		rb_file(&b, names[i], "x");
		rb_text(&b, PEER_FT_FILES_END, "{\"files\":1,\"bytes\":1}");
		ck_assert_msg(recv_dir_raw(&b, dst, NULL) == -EPROTO, "accepted \"%s\"", names[i]);
		ck_assert_int_eq(count_entries(dst), 0);
		ck_assert_int_eq(count_entries(tmpdir), before);
	}
	/* A name that is not a string. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":7,\"size\":1,\"mode\":420}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	snprintf(js, sizeof(js), "{\"size\":1,\"mode\":420}");
	rb_text(&b, PEER_FT_FILE, js);
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
	ck_assert_int_eq(count_entries(tmpdir), before);
}
END_TEST

START_TEST(test_dir_size_mismatch)
{
	char dst[PATH_MAX], h[65], js[256];
	struct rawbuf b = { 0 };
	int files = -1;

	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);

	/* A good file first, so that we see it stays while the bad one goes. */
	rb_file(&b, "good.img", "fine");
	/* Short: 10 announced, 5 sent. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":10,\"mode\":420}");
	rb_text(&b, PEER_FT_DATA, "12345");
	sha256_hex("12345", 5, h);
	snprintf(js, sizeof(js), "{\"sha256\":\"%s\"}", h);
	rb_text(&b, PEER_FT_FILE_END, js);
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":2,\"bytes\":9}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, &files), -EPROTO);
	ck_assert_int_eq(files, 1);
	ck_assert_int_eq(count_entries(dst), 1);
	ck_assert_int_eq(rm_rf(dst), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);

	/* Long, in one frame: refused before the bytes are written. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":10,\"mode\":420}");
	rb_text(&b, PEER_FT_DATA, "123456789012345");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);

	/* Long, in a second frame. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":10,\"mode\":420}");
	rb_text(&b, PEER_FT_DATA, "1234567890");
	rb_text(&b, PEER_FT_DATA, "1");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);

	/* An empty DATA frame. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":10,\"mode\":420}");
	rb_add(&b, PEER_FT_DATA, NULL, 0);
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);

	/* Sizes and modes out of range. */
	snprintf(js, sizeof(js), "{\"name\":\"a.img\",\"size\":%lld,\"mode\":420}",
		 (long long)PEER_MAX_FILE_SIZE + 1);
	rb_text(&b, PEER_FT_FILE, js);
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	/* A DATA frame over PEER_MAX_FRAME within a large file. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":4000000,\"mode\":420}");
	rb_add(&b, PEER_FT_DATA, NULL, 0);
	b.p[b.len - 4] = 0x00;
	b.p[b.len - 3] = 0x10;
	b.p[b.len - 2] = 0x00;
	b.p[b.len - 1] = 0x01; /* the header now says PEER_MAX_FRAME + 1 */
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EMSGSIZE);
	ck_assert_int_eq(count_entries(dst), 0);

	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":-1,\"mode\":420}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":1.5,\"mode\":420}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":1,\"mode\":4096}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
}
END_TEST

START_TEST(test_dir_hash_mismatch)
{
	char dst[PATH_MAX], h[65], js[256];
	struct rawbuf b = { 0 };

	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);

	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":5,\"mode\":420}");
	rb_text(&b, PEER_FT_DATA, "12345");
	sha256_hex("12346", 5, h);
	snprintf(js, sizeof(js), "{\"sha256\":\"%s\"}", h);
	rb_text(&b, PEER_FT_FILE_END, js);
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":1,\"bytes\":5}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);

	/* The right hash in capitals, and a truncated one, are malformed. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":5,\"mode\":420}");
	rb_text(&b, PEER_FT_DATA, "12345");
	sha256_hex("12345", 5, h);
	for (size_t i = 0; h[i]; i++)
		if (h[i] >= 'a' && h[i] <= 'f')
			h[i] = (char)(h[i] - 'a' + 'A');
	snprintf(js, sizeof(js), "{\"sha256\":\"%s\"}", h);
	rb_text(&b, PEER_FT_FILE_END, js);
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":5,\"mode\":420}");
	rb_text(&b, PEER_FT_DATA, "12345");
	rb_text(&b, PEER_FT_FILE_END, "{\"sha256\":\"abcd\"}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":5,\"mode\":420}");
	rb_text(&b, PEER_FT_DATA, "12345");
	rb_text(&b, PEER_FT_FILE_END, "{}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
}
END_TEST

START_TEST(test_dir_sequence)
{
	char dst[PATH_MAX];
	struct rawbuf b = { 0 };
	int files = -1;

	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);

	rb_text(&b, PEER_FT_DATA, "x");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	rb_text(&b, PEER_FT_FILE_END, "{}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	rb_text(&b, PEER_FT_JSON, "{}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);

	/* FILES_END or FILE while a file is open. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":1,\"mode\":420}");
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":0,\"bytes\":0}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":1,\"mode\":420}");
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"b.img\",\"size\":1,\"mode\":420}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);

	/* Totals that disagree with what came. */
	rb_file(&b, "a.img", "abc");
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":2,\"bytes\":3}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(rm_rf(dst), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	rb_file(&b, "a.img", "abc");
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":1,\"bytes\":4}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(rm_rf(dst), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);

	/* And the same, right. */
	rb_file(&b, "a.img", "abc");
	rb_file(&b, "b.img", "");
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":2,\"bytes\":3}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, &files), 0);
	ck_assert_int_eq(files, 2);
	ck_assert_int_eq(count_entries(dst), 2);
}
END_TEST

START_TEST(test_dir_existing)
{
	char dst[PATH_MAX], p[PATH_MAX], outside[PATH_MAX], *got = NULL;
	struct rawbuf b = { 0 };
	size_t len;

	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	jpath(p, sizeof(p), dst, "a.img");
	write_file(p, "keep", 4, 0600);
	tpath(outside, sizeof(outside), "outside");
	write_file(outside, "out", 3, 0600);
	jpath(p, sizeof(p), dst, "l.img");
	ck_assert_int_eq(symlink(outside, p), 0);

	rb_file(&b, "a.img", "evil");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EEXIST);
	jpath(p, sizeof(p), dst, "a.img");
	ck_assert_int_eq(file_read_all(p, 100, &got, &len), 0);
	ck_assert_str_eq(got, "keep");
	free(got);

	/* A symlink in the way is not followed. */
	rb_file(&b, "l.img", "evil");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EEXIST);
	ck_assert_int_eq(file_read_all(outside, 100, &got, &len), 0);
	ck_assert_str_eq(got, "out");
	free(got);

	/* The same name twice in one transfer. */
	ck_assert_int_eq(rm_rf(dst), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	rb_file(&b, "x.img", "one");
	rb_file(&b, "x.img", "two");
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EEXIST);
	jpath(p, sizeof(p), dst, "x.img");
	ck_assert_int_eq(file_read_all(p, 100, &got, &len), 0);
	ck_assert_str_eq(got, "one");
	free(got);
}
END_TEST

/* Smaller bounds than a migration's (the destination's cpuinfo transfer): a file
 * that would pass the bytes is refused at its announcement, and left out; a file
 * past the count is refused. */
static int recv_bounded(const char *tag, const size_t *sizes, int n, int max_files,
			int64_t max_bytes, int *left)
{
	char src[PATH_MAX], dst[PATH_MAX], a[PATH_MAX], name[32];
	struct side s = { .timeout = T_MS };
	struct peer_conn c;
	unsigned char *data;
	int sv[2], dfd, r;

	snprintf(name, sizeof(name), "src-%s", tag);
	tpath(src, sizeof(src), name);
	snprintf(name, sizeof(name), "dst-%s", tag);
	tpath(dst, sizeof(dst), name);
	ck_assert_int_eq(mkdir(src, 0700), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	for (int i = 0; i < n; i++) {
		data = calloc(1, sizes[i] + 1);
		ck_assert_ptr_nonnull(data);
		snprintf(name, sizeof(name), "f%d.img", i);
		jpath(a, sizeof(a), src, name);
		write_file(a, data, sizes[i], 0600);
		free(data);
	}
	make_pair(sv);
	s.fd = sv[1];
	s.dirfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(dfd, 0);
	side_start(&s, th_send_dir);
	peer_conn_init(&c, sv[0], T_MS);
	r = peer_recv_dir_max(&c, dfd, max_files, max_bytes, NULL, NULL);
	close_pair(sv);
	side_join(&s);
	*left = count_entries(dst);
	close(s.dirfd);
	close(dfd);
	return r;
}

START_TEST(test_dir_bounded)
{
	const size_t big[] = { 3 * PEER_MAX_FRAME };
	const size_t many[] = { 10, 10, 10 };
	const size_t fit[] = { 100, 200 };
	int left;

	ck_assert_int_eq(recv_bounded("big", big, 1, 4, PEER_MAX_FRAME, &left), -EFBIG);
	ck_assert_int_eq(left, 0);
	ck_assert_int_eq(recv_bounded("many", many, 3, 2, 1 << 20, &left), -E2BIG);
	ck_assert_int_eq(left, 2);
	ck_assert_int_eq(recv_bounded("fit", fit, 2, 2, 300, &left), 0);
	ck_assert_int_eq(left, 2);
}
END_TEST

START_TEST(test_dir_too_many)
{
	char dst[PATH_MAX], name[32];
	struct rawbuf b = { 0 };
	int i, files = -1;

	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	for (i = 0; i <= PEER_MAX_FILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		rb_file(&b, name, "");
	}
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":4097,\"bytes\":0}");
	ck_assert_int_eq(recv_dir_raw(&b, dst, &files), -EPROTO);
	ck_assert_int_eq(files, PEER_MAX_FILES);
	ck_assert_int_eq(count_entries(dst), PEER_MAX_FILES);
}
END_TEST

START_TEST(test_dir_timeout)
{
	char dst[PATH_MAX], p[PATH_MAX];
	int sv[2], dfd;
	struct peer_conn c;
	struct stat st;

	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	make_pair(sv);
	raw_text(sv[1], PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":10,\"mode\":420}");
	raw_text(sv[1], PEER_FT_DATA, "12345");
	peer_conn_init(&c, sv[0], 150);
	ck_assert_int_eq(peer_recv_dir(&c, dfd, NULL, NULL), -ETIMEDOUT);
	/* The partial file is gone. */
	jpath(p, sizeof(p), dst, "a.img");
	ck_assert_int_eq(lstat(p, &st), -1);
	close_pair(sv);
	close(dfd);
}
END_TEST

/* ---- connect ---- */

START_TEST(test_connect)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int l, fd, a, one = 0, fl;
	socklen_t ol = sizeof(one);
	char hp[64];

	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(l, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = 0;
	ck_assert_int_eq(bind(l, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&sa, &sl), 0);

	snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(sa.sin_port));
	fd = peer_connect(hp, 2000);
	ck_assert_int_ge(fd, 0);
	a = accept(l, NULL, NULL);
	ck_assert_int_ge(a, 0);
	ck_assert_int_eq(getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, &ol), 0);
	ck_assert_int_ne(one, 0);
	fl = fcntl(fd, F_GETFL);
	ck_assert_int_eq(fl & O_NONBLOCK, 0);
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	close(a);
	close(fd);

	snprintf(hp, sizeof(hp), "localhost:%d", ntohs(sa.sin_port));
	fd = peer_connect(hp, 2000);
	ck_assert_int_ge(fd, 0);
	close(fd);

	/* Nobody listens any more. */
	close(l);
	snprintf(hp, sizeof(hp), "127.0.0.1:%d", ntohs(sa.sin_port));
	ck_assert_int_eq(peer_connect(hp, 2000), -ECONNREFUSED);

	ck_assert_int_eq(peer_connect("127.0.0.1", 2000), -EINVAL);
	ck_assert_int_eq(peer_connect("127.0.0.1:0", 2000), -EINVAL);
	ck_assert_int_eq(peer_connect(NULL, 2000), -EINVAL);
}
END_TEST

/* ---- compression (zframe.h) of files and of CRIU's stream ---- */

/* Text-like bytes (a heap of strings): compress well. */
static void fill_words(unsigned char *p, size_t n, unsigned seed)
{
	static const char *const words[] = { "criu ", "page ", "hauld ", "heap ", "the ",
		"process ", "memory ", "stream " };
	size_t i = 0;

	while (i < n) {
		const char *w;

		seed = seed * 1103515245u + 12345u;
		w = words[(seed >> 16) % ARRAY_SIZE(words)];
		for (size_t k = 0; w[k] && i < n; k++)
			p[i++] = (unsigned char)w[k];
	}
}

static void *th_send_dir_z(void *arg)
{
	struct side *s = arg;
	struct peer_conn c;

	peer_conn_init(&c, s->fd, s->timeout);
	ck_assert_int_eq(peer_compress_enable(&c, ZFRAME_ON), 0);
	s->ret = peer_send_dir(&c, s->dirfd, &s->files, &s->bytes);
	s->sent = c.bytes_sent;
	s->received = c.raw_sent;
	c.fd = -1;
	peer_conn_release(&c);
	return NULL;
}

/* Text, zeros and random bytes, each intact; fewer bytes on the wire than in the
 * files, and the raw count is the files' bytes. */
START_TEST(test_dir_compressed)
{
	static const struct { const char *name; size_t size; int kind; } f[] = {
		{ "empty.img", 0, 0 },
		{ "pages-1.img", 3 * PEER_MAX_FRAME + 5, 0 },
		{ "pages-2.img", 2 * PEER_MAX_FRAME, 1 },
		{ "pages-3.img", PEER_MAX_FRAME + 7, 2 },
		{ "small.img", 300, 0 },
	};
	char src[PATH_MAX], dst[PATH_MAX], a[PATH_MAX], b[PATH_MAX];
	unsigned char *data = malloc(3 * PEER_MAX_FRAME + 5);
	struct side s = { .timeout = T_MS };
	int sv[2], dfd, files = 0;
	int64_t bytes = 0, total = 0;
	struct peer_conn c;

	tpath(src, sizeof(src), "src");
	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(src, 0700), 0);
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++) {
		if (f[i].kind == 0)
			fill_words(data, f[i].size, (unsigned)i);
		else if (f[i].kind == 1)
			memset(data, 0, f[i].size);
		else
			ck_assert_int_eq(random_bytes(data, f[i].size), 0);
		write_file(jpath(a, sizeof(a), src, f[i].name), data, f[i].size, 0600);
		total += (int64_t)f[i].size;
	}
	make_pair(sv);
	s.fd = sv[1];
	s.dirfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dfd = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	side_start(&s, th_send_dir_z);
	peer_conn_init(&c, sv[0], T_MS);
	ck_assert_int_eq(peer_compress_enable(&c, ZFRAME_ON), 0);
	ck_assert_int_eq(peer_recv_dir(&c, dfd, &files, &bytes), 0);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	ck_assert_int_eq(files, (int)ARRAY_SIZE(f));
	ck_assert_int_eq(bytes, total);
	ck_assert_uint_eq(s.received, (uint64_t)total);
	/* The random MiB goes raw, the rest shrinks to well under half. */
	ck_assert_uint_lt(s.sent, (uint64_t)total / 2);
	ck_assert_uint_gt(s.sent, PEER_MAX_FRAME);
	for (size_t i = 0; i < ARRAY_SIZE(f); i++)
		check_same(jpath(a, sizeof(a), src, f[i].name), jpath(b, sizeof(b), dst, f[i].name));
	c.fd = -1;
	peer_conn_release(&c);
	close(s.dirfd);
	close(dfd);
	close_pair(sv);
	free(data);
}
END_TEST

/* A zstd frame of n zero bytes, its size declared (or not). Heap, caller frees. */
static unsigned char *zstd_zeros(size_t n, int declare, size_t *zn)
{
	unsigned char *zeros = calloc(1, n), *out;
	ZSTD_CCtx *cc = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(n);

	out = malloc(cap);
	ck_assert(zeros && cc && out);
	ZSTD_CCtx_setParameter(cc, ZSTD_c_contentSizeFlag, declare);
	*zn = ZSTD_compress2(cc, out, cap, zeros, n);
	ck_assert(!ZSTD_isError(*zn));
	ZSTD_freeCCtx(cc);
	free(zeros);
	return out;
}

/* A ZDATA frame is refused by a receiver that did not agree to compression; with
 * it, a zip bomb (64 MiB in a few KiB), one beyond the file's size and one
 * without a declared size are refused, the file removed, nothing written beyond
 * the bound. A good one is taken. */
START_TEST(test_dir_zdata_hostile)
{
	char dst[PATH_MAX], js[256], h[65];
	struct rawbuf b = { 0 };
	unsigned char *z, *zeros = calloc(1, 4096);
	size_t zn;

	tpath(dst, sizeof(dst), "dst");
	ck_assert_int_eq(mkdir(dst, 0700), 0);
	z = zstd_zeros(4096, 1, &zn);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":4096,\"mode\":420}");
	rb_add(&b, PEER_FT_ZDATA, z, zn);
	ck_assert_int_eq(recv_dir_raw(&b, dst, NULL), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
	/* Agreed: the same transfer is taken. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":4096,\"mode\":420}");
	rb_add(&b, PEER_FT_ZDATA, z, zn);
	sha256_hex(zeros, 4096, h);
	snprintf(js, sizeof(js), "{\"sha256\":\"%s\"}", h);
	rb_text(&b, PEER_FT_FILE_END, js);
	rb_text(&b, PEER_FT_FILES_END, "{\"files\":1,\"bytes\":4096}");
	ck_assert_int_eq(recv_dir_raw_z(&b, dst, NULL, true), 0);
	ck_assert_int_eq(count_entries(dst), 1);
	tpath(js, sizeof(js), "dst/a.img");
	ck_assert_int_eq(unlink(js), 0);
	/* 4 KiB of content in a file announced as 4095 bytes. */
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":4095,\"mode\":420}");
	rb_add(&b, PEER_FT_ZDATA, z, zn);
	ck_assert_int_eq(recv_dir_raw_z(&b, dst, NULL, true), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
	free(z);
	/* The bomb, in a file that claims to be 16 GiB: the frame's bound holds. */
	z = zstd_zeros(64u << 20, 1, &zn);
	ck_assert_uint_lt(zn, 64 * 1024);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":17179869184,\"mode\":420}");
	rb_add(&b, PEER_FT_ZDATA, z, zn);
	ck_assert_int_eq(recv_dir_raw_z(&b, dst, NULL, true), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
	free(z);
	z = zstd_zeros(8192, 0, &zn);
	rb_text(&b, PEER_FT_FILE, "{\"name\":\"a.img\",\"size\":8192,\"mode\":420}");
	rb_add(&b, PEER_FT_ZDATA, z, zn);
	ck_assert_int_eq(recv_dir_raw_z(&b, dst, NULL, true), -EPROTO);
	ck_assert_int_eq(count_entries(dst), 0);
	free(z);
	free(zeros);
}
END_TEST

/* Two sealed connections' ends, a and b, over a socketpair. */
static void zpair_open(struct peer_conn *a, struct peer_conn *b, int sv[2])
{
	struct side s = { .timeout = T_MS, .secret = SECRET };

	make_pair(sv);
	s.fd = sv[1];
	side_start(&s, th_auth_server);
	peer_conn_init(a, sv[0], T_MS);
	ck_assert_int_eq(peer_auth_client(a, SECRET, strlen(SECRET), "memory"), 0);
	side_join(&s);
	ck_assert_int_eq(s.ret, 0);
	peer_conn_move(b, &s.conn);
}

struct criu_writer {
	pthread_t th;
	int fd;
	const unsigned char *p;
	size_t len;
	int ret;
};

/* CRIU at the sending end: writes its stream, then closes its socket. */
static void *th_criu_write(void *arg)
{
	struct criu_writer *w = arg;

	w->ret = write_full(w->fd, w->p, w->len);
	close(w->fd);
	return NULL;
}

/* CRIU at the receiving end: everything until the stream's end. */
static size_t criu_read_all(int fd, unsigned char *buf, size_t cap)
{
	size_t got = 0;
	ssize_t n;

	while (got < cap && (n = read(fd, buf + got, cap - got)) > 0)
		got += (size_t)n;
	return got;
}

/* CRIU's stream through two relays that compress: what arrives is what was sent
 * (text, zeros, random), in fewer bytes on the wire; raw counts are CRIU's. */
START_TEST(test_relay_compressed)
{
	size_t len = 12u << 20, got;
	unsigned char *data = malloc(len), *back = malloc(len + 1);
	struct criu_writer w = { .p = data, .len = len };
	struct peer_conn a, b;
	struct relay *ra = NULL, *rb = NULL;
	struct zframe_stats st;
	long long out, in;
	int sv[2], fb;
	char why[200];

	fill_words(data, 4u << 20, 5);
	memset(data + (4u << 20), 0, 4u << 20);
	ck_assert_int_eq(random_bytes(data + (8u << 20), 4u << 20), 0);
	zpair_open(&a, &b, sv);
	ck_assert_int_eq(peer_compress_enable(&a, ZFRAME_ON), 0);
	ck_assert_int_eq(peer_compress_enable(&b, ZFRAME_ON), 0);
	ck_assert_int_eq(relay_open(&a, true, &w.fd, &ra), 0);
	ck_assert_int_eq(relay_open(&b, true, &fb, &rb), 0);
	ck_assert_int_eq(pthread_create(&w.th, NULL, th_criu_write, &w), 0);
	got = criu_read_all(fb, back, len + 1);
	ck_assert_int_eq(pthread_join(w.th, NULL), 0);
	ck_assert_int_eq(w.ret, 0);
	ck_assert_uint_eq(got, len);
	ck_assert(memcmp(back, data, len) == 0);
	close(fb);
	relay_counts(ra, &out, &in);
	ck_assert_int_eq(out, (long long)len);
	relay_counts(rb, &out, &in);
	ck_assert_int_eq(in, (long long)len);
	ck_assert_int_eq(relay_finish(ra, T_MS, why, sizeof(why)), 0);
	ck_assert_int_eq(relay_finish(rb, T_MS, why, sizeof(why)), 0);
	ck_assert_uint_eq(a.raw_sent, len);
	/* The random third goes raw; text and zeros shrink. */
	ck_assert_uint_lt(a.bytes_sent, len / 2);
	ck_assert_uint_gt(a.bytes_sent, 4u << 20);
	zframe_stats(a.z, &st);
	ck_assert_int_gt(st.frames_z, 0);
	ck_assert_int_gt(st.frames_raw, 0);
	ck_assert_int_eq(st.raw, (int64_t)len);
	a.fd = b.fd = -1;
	peer_conn_release(&a);
	peer_conn_release(&b);
	close_pair(sv);
	free(data);
	free(back);
}
END_TEST

/* A relay whose connection did not agree to compression refuses a ZSTREAM frame;
 * one that did refuses a zip bomb (64 MiB declared in a few KiB), fails cleanly
 * and tells the other side why. */
START_TEST(test_relay_zstream_hostile)
{
	for (int agreed = 0; agreed <= 1; agreed++) {
		struct peer_conn a, b;
		struct relay *rb = NULL;
		unsigned char *z, buf[512];
		size_t zn;
		json_t *m = NULL;
		char why[200];
		int sv[2], fb, r;

		zpair_open(&a, &b, sv);
		if (agreed)
			ck_assert_int_eq(peer_compress_enable(&b, ZFRAME_ON), 0);
		ck_assert_int_eq(relay_open(&b, true, &fb, &rb), 0);
		z = zstd_zeros(agreed ? 64u << 20 : 4096, 1, &zn);
		ck_assert_int_eq(peer_send_frame(&a, PEER_FT_ZSTREAM, z, zn), 0);
		free(z);
		r = relay_finish(rb, T_MS, why, sizeof(why));
		ck_assert_int_lt(r, 0);
		if (agreed)
			ck_assert_msg(strstr(why, "decompress") != NULL, "why: %s", why);
		/* The relay said why before it closed, and CRIU saw nothing. */
		ck_assert_int_eq(peer_recv_json(&a, &m), 0);
		ck_assert_ptr_nonnull(json_string_value(json_object_get(m, "stream_error")));
		json_decref(m);
		ck_assert_int_eq(read(fb, buf, sizeof(buf)), 0);
		close(fb);
		a.fd = b.fd = -1;
		peer_conn_release(&a);
		peer_conn_release(&b);
		close_pair(sv);
	}
}
END_TEST

static Suite *peer_suite(void)
{
	Suite *s = suite_create("peer");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 60);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_frame_roundtrip);
	tcase_add_test(tc, test_json_roundtrip);
	tcase_add_test(tc, test_recv_json_bad);
	tcase_add_test(tc, test_recv_json_ok_returns_object);
	tcase_add_test(tc, test_oversized);
	tcase_add_test(tc, test_bad_header);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_timeout_recv);
	tcase_add_test(tc, test_timeout_send);
	tcase_add_test(tc, test_peer_closed);
	tcase_add_test(tc, test_peer_closed_mid_frame);
	tcase_add_test(tc, test_auth_ok);
	tcase_add_test(tc, test_auth_then_frames);
	tcase_add_test(tc, test_sealed_frames);
	tcase_add_test(tc, test_auth_wrong_secret);
	tcase_add_test(tc, test_auth_client_args);
	tcase_add_test(tc, test_auth_fake_server);
	tcase_add_test(tc, test_auth_bad_hello);
	tcase_add_test(tc, test_auth_not_hauld);
	tcase_add_test(tc, test_auth_self);
	tcase_add_test(tc, test_auth_bad_client);
	tcase_add_test(tc, test_name_ok);
	tcase_add_test(tc, test_dir_transfer);
	tcase_add_test(tc, test_dir_empty);
	tcase_add_test(tc, test_send_dir_bad_name);
	tcase_add_test(tc, test_dir_hostile_names);
	tcase_add_test(tc, test_dir_size_mismatch);
	tcase_add_test(tc, test_dir_hash_mismatch);
	tcase_add_test(tc, test_dir_sequence);
	tcase_add_test(tc, test_dir_existing);
	tcase_add_test(tc, test_dir_too_many);
	tcase_add_test(tc, test_dir_bounded);
	tcase_add_test(tc, test_dir_timeout);
	tcase_add_test(tc, test_connect);
	tcase_add_test(tc, test_dir_compressed);
	tcase_add_test(tc, test_dir_zdata_hostile);
	tcase_add_test(tc, test_relay_compressed);
	tcase_add_test(tc, test_relay_zstream_hostile);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(peer_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
