/* peer.c: framing, JSON frames, authentication and connecting of the peer protocol
 * (include/peer.h, api/peer-protocol.md); the file transfer is in peer_files.c.
 *
 * Sockets are used with MSG_DONTWAIT and poll(), so a blocking fd never blocks
 * longer than the connection's timeout, and with MSG_NOSIGNAL, so a peer that
 * goes away costs us -EPIPE and not the process. Each buffer (a header, a payload)
 * must move completely within timeout_ms of the call that asks for it. */
#include "peer.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/sockios.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "log.h"
#include "peer_int.h"
#include "util.h"

#define PEER_HDR_LEN        12
#define PEER_DEFAULT_TIMEOUT 30000
#define PEER_NONCE_LEN      32
#define PEER_MAC_LEN        32
#define PEER_CHANNEL_MAX    16
/* A secret is a configuration value; anything this large is a mistake. */
#define PEER_SECRET_MAX     4096

static const char peer_magic[4] = { 'H', 'L', 'D', '1' };
/* This daemon's instance id (peer_instance_set), "" when none: read-only after
 * start. */
static char peer_instance[PEER_INSTANCE_LEN + 1];

void peer_instance_set(const char *id)
{
	snprintf(peer_instance, sizeof(peer_instance), "%s", id ? id : "");
}

const char *peer_instance_get(void)
{
	return peer_instance;
}
static const char peer_label_client[] = "hauld-peer-v1 client";
static const char peer_label_server[] = "hauld-peer-v1 server";

void peer_conn_init(struct peer_conn *c, int fd, int timeout_ms)
{
	c->fd = fd;
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : PEER_DEFAULT_TIMEOUT;
	c->deadline = 0;
	c->seal = NULL;
	c->z = NULL;
	c->bytes_sent = 0;
	c->bytes_received = 0;
	c->raw_sent = 0;
	c->raw_received = 0;
}

/* ---- sealed frames ---- */

/* One direction: its cipher context (key set), the next frame's number. */
struct seal_dir {
	EVP_CIPHER_CTX *ctx;
	uint64_t seq;
};

struct peer_seal {
	struct seal_dir tx, rx;
	unsigned char *buf;     /* PEER_MAX_FRAME + PEER_TAG_LEN: a frame's ciphertext */
	size_t rx_len, rx_off;  /* the opened payload in buf, and what was read of it */
	bool rx_open;           /* a frame's payload is being read */
	bool broken;            /* a frame failed: nothing more is read */
};

static void seal_free(struct peer_seal *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->tx.ctx);
	EVP_CIPHER_CTX_free(s->rx.ctx);
	if (s->buf)
		OPENSSL_cleanse(s->buf, PEER_MAX_FRAME + PEER_TAG_LEN);
	free(s->buf);
	free(s);
}

static EVP_CIPHER_CTX *seal_ctx(const unsigned char key[32], bool enc)
{
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();

	if (ctx && (enc ? EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL)
			: EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL)) != 1) {
		EVP_CIPHER_CTX_free(ctx);
		ctx = NULL;
	}
	return ctx;
}

/* The 96-bit nonce of frame seq: 4 zero bytes and seq big-endian. Each direction
 * has a key of its own, so the two counters never share a nonce under one key. */
static void seal_nonce(uint64_t seq, unsigned char iv[12])
{
	memset(iv, 0, 4);
	for (int i = 0; i < 8; i++)
		iv[4 + i] = (unsigned char)(seq >> (56 - 8 * i));
}

void peer_conn_release(struct peer_conn *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	seal_free(c->seal);
	c->seal = NULL;
	zframe_free(c->z);
	c->z = NULL;
}

void peer_conn_move(struct peer_conn *dst, struct peer_conn *src)
{
	*dst = *src;
	src->fd = -1;
	src->seal = NULL;
	src->z = NULL;
}

int peer_pack(struct peer_conn *c, const void *in, size_t n, const void **out, size_t *outlen)
{
	int queued = 0;

	*out = in;
	*outlen = n;
	if (!c->z)
		return 0;
	/* What the kernel has not sent, or had acknowledged, yet: a link that keeps
	 * up leaves little, a slow one the whole send buffer. The rest of what went
	 * into the socket has been acknowledged, and how fast it is is the link's
	 * speed while it is behind. */
	if (ioctl(c->fd, SIOCOUTQ, &queued) == 0 && queued >= 0)
		zframe_link_sample(c->z, queued, (int64_t)c->bytes_sent - queued,
				   time_mono_ms() * 1000000LL);
	else
		zframe_link_sample(c->z, -1, -1, time_mono_ms() * 1000000LL);
	return zframe_pack(c->z, in, n, out, outlen);
}

int peer_compress_enable(struct peer_conn *c, enum zframe_mode mode)
{
	if (!c)
		return -EINVAL;
	if (c->z)
		return 0;
	c->z = zframe_new(mode);
	return c->z ? 0 : -ENOMEM;
}

/* Wait for events on fd until the monotonic deadline. */
static int peer_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int64_t left;
	int n;

	for (;;) {
		left = deadline - time_mono_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ETIMEDOUT;
		if (pfd.revents & POLLNVAL)
			return -EBADF;
		/* POLLERR and POLLHUP are reported by the following send or recv. */
		return 0;
	}
}

/* A reset is a closed peer as far as callers are concerned. */
static int peer_sock_err(int e)
{
	if (e == EPIPE || e == ECONNRESET)
		return -EPIPE;
	return -e;
}

/* The deadline of one call: timeout_ms from now, or the connection's own when
 * that comes first. */
static int64_t call_deadline(const struct peer_conn *c)
{
	int64_t d = time_mono_ms() + c->timeout_ms;

	return c->deadline > 0 && c->deadline < d ? c->deadline : d;
}

/* Read exactly len bytes from the socket. */
static int recv_raw(struct peer_conn *c, void *buf, size_t len)
{
	char *p = buf;
	int64_t deadline = call_deadline(c);
	ssize_t n;
	int r;

	while (len > 0) {
		n = recv(c->fd, p, len, MSG_DONTWAIT);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			c->bytes_received += (uint64_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return peer_sock_err(errno);
		r = peer_wait(c->fd, POLLIN, deadline);
		if (r < 0)
			return r;
	}
	return 0;
}

int peer_recv_view(struct peer_conn *c, const void **p, size_t len)
{
	struct peer_seal *sl = c->seal;

	if (!sl || !sl->rx_open || len != sl->rx_len - sl->rx_off)
		return -EPROTO;
	*p = sl->buf + sl->rx_off;
	sl->rx_off = sl->rx_len;
	sl->rx_open = false;
	return 0;
}

int peer_recv_all(struct peer_conn *c, void *buf, size_t len)
{
	struct peer_seal *sl = c->seal;

	if (!sl)
		return recv_raw(c, buf, len);
	/* Sealed: the payload of the frame whose header was read, opened already. */
	if (!sl->rx_open || len > sl->rx_len - sl->rx_off)
		return -EPROTO;
	memcpy(buf, sl->buf + sl->rx_off, len);
	sl->rx_off += len;
	if (sl->rx_off == sl->rx_len)
		sl->rx_open = false;
	return 0;
}

/* Send every byte of iov; iov is consumed (modified). */
static int peer_send_iov(struct peer_conn *c, struct iovec *iov, int iovcnt)
{
	int64_t deadline = call_deadline(c);
	struct msghdr mh;
	size_t done;
	ssize_t n;
	int r;

	while (iovcnt > 0 && iov[0].iov_len == 0) {
		iov++;
		iovcnt--;
	}
	while (iovcnt > 0) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		mh.msg_iovlen = (size_t)iovcnt;
		n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return peer_sock_err(errno);
			r = peer_wait(c->fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		c->bytes_sent += (uint64_t)n;
		done = (size_t)n;
		while (iovcnt > 0 && done >= iov[0].iov_len) {
			done -= iov[0].iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov[0].iov_base = (char *)iov[0].iov_base + done;
			iov[0].iov_len -= done;
		}
	}
	return 0;
}

static int peer_type_ok(uint8_t type)
{
	return type >= PEER_FT_JSON && type <= PEER_FT_ZDATA;
}

int peer_send_frame(struct peer_conn *c, uint8_t type, const void *buf, size_t len)
{
	unsigned char hdr[PEER_HDR_LEN];
	struct iovec iov[2];

	if (!c || c->fd < 0 || !peer_type_ok(type) || (len > 0 && !buf))
		return -EINVAL;
	if (len > PEER_MAX_FRAME)
		return -EMSGSIZE;
	memcpy(hdr, peer_magic, 4);
	hdr[4] = PEER_PROTO_VERSION;
	hdr[5] = type;
	hdr[6] = 0;
	hdr[7] = 0;
	hdr[8] = (unsigned char)(len >> 24);
	hdr[9] = (unsigned char)(len >> 16);
	hdr[10] = (unsigned char)(len >> 8);
	hdr[11] = (unsigned char)len;
	/* One sendmsg keeps a small frame in one segment despite TCP_NODELAY. */
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)buf;
	iov[1].iov_len = len;
	if (c->seal) {
		struct peer_seal *sl = c->seal;
		unsigned char iv[12];
		int outl = 0, fin = 0;

		seal_nonce(sl->tx.seq, iv);
		if (EVP_EncryptInit_ex(sl->tx.ctx, NULL, NULL, NULL, iv) != 1 ||
		    EVP_EncryptUpdate(sl->tx.ctx, NULL, &outl, hdr, sizeof(hdr)) != 1 ||
		    (len > 0 && EVP_EncryptUpdate(sl->tx.ctx, sl->buf, &outl, buf, (int)len) != 1) ||
		    EVP_EncryptFinal_ex(sl->tx.ctx, sl->buf + len, &fin) != 1 ||
		    EVP_CIPHER_CTX_ctrl(sl->tx.ctx, EVP_CTRL_GCM_GET_TAG, PEER_TAG_LEN,
					sl->buf + len) != 1)
			return -EIO;
		sl->tx.seq++;
		iov[1].iov_base = sl->buf;
		iov[1].iov_len = len + PEER_TAG_LEN;
	}
	return peer_send_iov(c, iov, 2);
}

/* Sealed: read the n bytes of payload and the tag of the frame whose header is
 * hdr, and open them into the connection's buffer, where peer_recv_all reads. */
static int open_frame(struct peer_conn *c, const unsigned char *hdr, size_t n)
{
	struct peer_seal *sl = c->seal;
	unsigned char iv[12];
	int outl = 0, r;

	r = recv_raw(c, sl->buf, n + PEER_TAG_LEN);
	if (r < 0)
		return r;
	seal_nonce(sl->rx.seq, iv);
	if (EVP_DecryptInit_ex(sl->rx.ctx, NULL, NULL, NULL, iv) != 1 ||
	    EVP_CIPHER_CTX_ctrl(sl->rx.ctx, EVP_CTRL_GCM_SET_TAG, PEER_TAG_LEN,
				sl->buf + n) != 1 ||
	    EVP_DecryptUpdate(sl->rx.ctx, NULL, &outl, hdr, PEER_HDR_LEN) != 1 ||
	    (n > 0 && EVP_DecryptUpdate(sl->rx.ctx, sl->buf, &outl, sl->buf, (int)n) != 1) ||
	    EVP_DecryptFinal_ex(sl->rx.ctx, sl->buf + n, &outl) != 1) {
		/* Changed, dropped, replayed or foreign: the stream cannot be trusted
		 * from here on. */
		sl->broken = true;
		return -EBADMSG;
	}
	sl->rx.seq++;
	sl->rx_len = n;
	sl->rx_off = 0;
	sl->rx_open = n > 0;
	return 0;
}

/* Read and check a header. The length is checked against PEER_MAX_FRAME before
 * anything of the payload is read; a sealed frame is read whole and opened. */
int peer_recv_header(struct peer_conn *c, uint8_t *type, size_t *len)
{
	unsigned char hdr[PEER_HDR_LEN];
	uint32_t n;
	int r;

	if (c->seal && (c->seal->broken || c->seal->rx_open))
		return -EPROTO;   /* after a failed frame, or inside a frame not read out */
	r = recv_raw(c, hdr, sizeof(hdr));
	if (r < 0)
		return r;
	if (memcmp(hdr, peer_magic, 4) != 0 || hdr[4] != PEER_PROTO_VERSION ||
	    !peer_type_ok(hdr[5]) || hdr[6] != 0 || hdr[7] != 0)
		return -EPROTO;
	n = (uint32_t)hdr[8] << 24 | (uint32_t)hdr[9] << 16 | (uint32_t)hdr[10] << 8 | hdr[11];
	if (n > PEER_MAX_FRAME)
		return -EMSGSIZE;
	if (c->seal) {
		r = open_frame(c, hdr, n);
		if (r < 0)
			return r;
	}
	*type = hdr[5];
	*len = n;
	return 0;
}

int peer_recv_frame(struct peer_conn *c, uint8_t *type, void *buf, size_t cap, size_t *len)
{
	uint8_t t;
	size_t n;
	int r;

	if (!c || c->fd < 0 || !type || !len || (cap > 0 && !buf))
		return -EINVAL;
	r = peer_recv_header(c, &t, &n);
	if (r < 0)
		return r;
	if (n > cap)
		return -EMSGSIZE;
	r = peer_recv_all(c, buf, n);
	if (r < 0)
		return r;
	*type = t;
	*len = n;
	return 0;
}

/* Send m (borrowed; NULL after a failed json_pack is -ENOMEM) as a frame of type. */
int peer_send_json_frame(struct peer_conn *c, uint8_t type, json_t *m)
{
	char *s;
	size_t n;
	int r;

	if (!m)
		return -ENOMEM;
	s = json_dumps(m, JSON_COMPACT);
	if (!s)
		return -ENOMEM;
	n = strlen(s);
	r = n > PEER_MAX_JSON ? -EMSGSIZE : peer_send_frame(c, type, s, n);
	free(s);
	return r;
}

int peer_send_json(struct peer_conn *c, json_t *msg)
{
	if (!c || !json_is_object(msg))
		return -EINVAL;
	return peer_send_json_frame(c, PEER_FT_JSON, msg);
}

/* Read a payload of n bytes (n <= PEER_MAX_JSON checked here) and parse it as a
 * JSON object; *out is a new reference. */
int peer_recv_json_payload(struct peer_conn *c, size_t n, json_t **out)
{
	char *buf = NULL;
	json_t *j = NULL;
	json_error_t err;
	int r;

	*out = NULL;
	if (n > PEER_MAX_JSON)
		return -EMSGSIZE;
	buf = malloc(n ? n : 1);
	if (!buf)
		return -ENOMEM;
	r = peer_recv_all(c, buf, n);
	if (r < 0)
		goto out;
	j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
	if (!j || !json_is_object(j)) {
		r = -EPROTO;
		goto out;
	}
	*out = j;
	j = NULL;
out:
	json_decref(j);
	free(buf);
	return r;
}

int peer_recv_json(struct peer_conn *c, json_t **out)
{
	uint8_t t;
	size_t n;
	int r;

	if (!c || c->fd < 0 || !out)
		return -EINVAL;
	*out = NULL;
	r = peer_recv_header(c, &t, &n);
	if (r < 0)
		return r;
	if (t != PEER_FT_JSON)
		return -EPROTO;
	return peer_recv_json_payload(c, n, out);
}

/* ---- authentication ---- */

static int peer_channel_ok(const char *s)
{
	size_t i;

	if (!s)
		return 0;
	for (i = 0; s[i]; i++)
		if (i >= PEER_CHANNEL_MAX || s[i] < 'a' || s[i] > 'z')
			return 0;
	return i > 0;
}

/* Decode exactly 2*len lower-case hex digits. */
int peer_hex_decode(const char *s, unsigned char *out, size_t len)
{
	size_t i;
	int hi, lo;

	if (!s || strlen(s) != 2 * len)
		return -EPROTO;
	for (i = 0; i < 2 * len; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return -EPROTO;
	for (i = 0; i < len; i++) {
		hi = s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10;
		lo = s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' : s[2 * i + 1] - 'a' + 10;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

/* HMAC-SHA256(secret, label | n1 | n2 | channel), label without its NUL. */
static int peer_mac(const void *secret, size_t secret_len, const char *label,
		 const unsigned char *n1, const unsigned char *n2, const char *channel,
		 unsigned char mac[PEER_MAC_LEN])
{
	unsigned char msg[64 + 2 * PEER_NONCE_LEN + PEER_CHANNEL_MAX];   /* labels < 64 */
	size_t ll = strlen(label), cl = strlen(channel), off = 0;
	unsigned int maclen = 0;

	if (ll + 2 * PEER_NONCE_LEN + cl > sizeof(msg))
		return -EINVAL;
	memcpy(msg + off, label, ll);
	off += ll;
	memcpy(msg + off, n1, PEER_NONCE_LEN);
	off += PEER_NONCE_LEN;
	memcpy(msg + off, n2, PEER_NONCE_LEN);
	off += PEER_NONCE_LEN;
	memcpy(msg + off, channel, cl);
	off += cl;
	if (!HMAC(EVP_sha256(), secret, (int)secret_len, msg, off, mac, &maclen) ||
	    maclen != PEER_MAC_LEN)
		return -EIO;
	return 0;
}

static const char peer_label_key_c2s[] = "hauld-peer-v2 key client->server";
static const char peer_label_key_s2c[] = "hauld-peer-v2 key server->client";

/* After a handshake: the connection's keys, HMAC-SHA256(secret, label | ns | nc |
 * channel) for each direction, so that they are new for every connection. */
static int seal_start(struct peer_conn *c, const void *secret, size_t secret_len,
		      const unsigned char *ns, const unsigned char *nc, const char *channel,
		      bool client)
{
	unsigned char k_c2s[PEER_MAC_LEN], k_s2c[PEER_MAC_LEN];
	struct peer_seal *sl;
	int r;

	r = peer_mac(secret, secret_len, peer_label_key_c2s, ns, nc, channel, k_c2s);
	if (r == 0)
		r = peer_mac(secret, secret_len, peer_label_key_s2c, ns, nc, channel, k_s2c);
	sl = r == 0 ? calloc(1, sizeof(*sl)) : NULL;
	if (sl) {
		sl->buf = malloc(PEER_MAX_FRAME + PEER_TAG_LEN);
		sl->tx.ctx = seal_ctx(client ? k_c2s : k_s2c, true);
		sl->rx.ctx = seal_ctx(client ? k_s2c : k_c2s, false);
	}
	OPENSSL_cleanse(k_c2s, sizeof(k_c2s));
	OPENSSL_cleanse(k_s2c, sizeof(k_s2c));
	if (!sl || !sl->buf || !sl->tx.ctx || !sl->rx.ctx) {
		seal_free(sl);
		return r < 0 ? r : -ENOMEM;
	}
	seal_free(c->seal);
	c->seal = sl;
	return 0;
}

static int peer_secret_ok(const void *secret, size_t secret_len)
{
	return secret && secret_len > 0 && secret_len <= PEER_SECRET_MAX;
}

int peer_auth_client(struct peer_conn *c, const void *secret, size_t secret_len,
		     const char *channel)
{
	unsigned char ns[PEER_NONCE_LEN], nc[PEER_NONCE_LEN];
	unsigned char mac[PEER_MAC_LEN], got[PEER_MAC_LEN];
	char hex[2 * PEER_MAC_LEN + 1], hexn[2 * PEER_NONCE_LEN + 1];
	json_t *m = NULL, *ok;
	const char *inst;
	int r, saved_timeout;

	if (!c || c->fd < 0 || !peer_secret_ok(secret, secret_len) || !peer_channel_ok(channel))
		return -EINVAL;
	/* A hauld greets at once; a port that stays silent, or says something else
	 * (an HTTP or SSH server), is not a hauld peer port. */
	saved_timeout = c->timeout_ms;
	if (c->timeout_ms > PEER_GREET_MS)
		c->timeout_ms = PEER_GREET_MS;
	r = peer_recv_json(c, &m);
	c->timeout_ms = saved_timeout;
	if (r == -ETIMEDOUT || r == -EPROTO || r == -EMSGSIZE) {
		r = -ENOMSG;
		goto out;
	}
	if (r < 0)
		goto out;
	if (!json_is_string(json_object_get(m, "hello")) ||
	    strcmp(json_string_value(json_object_get(m, "hello")), "hauld") != 0) {
		r = -ENOMSG;
		goto out;
	}
	inst = json_string_value(json_object_get(m, "instance"));
	if (peer_instance[0] && inst && strcmp(inst, peer_instance) == 0) {
		r = -ELOOP;
		goto out;
	}
	if (!json_is_integer(json_object_get(m, "version")) ||
	    json_integer_value(json_object_get(m, "version")) != PEER_PROTO_VERSION ||
	    peer_hex_decode(json_string_value(json_object_get(m, "nonce")), ns, sizeof(ns)) < 0) {
		r = -EPROTO;
		goto out;
	}
	json_decref(m);
	m = NULL;

	r = random_bytes(nc, sizeof(nc));
	if (r < 0)
		goto out;
	r = peer_mac(secret, secret_len, peer_label_client, ns, nc, channel, mac);
	if (r < 0)
		goto out;
	hex_encode(mac, sizeof(mac), hex);
	hex_encode(nc, sizeof(nc), hexn);
	m = json_pack("{s:s, s:s, s:s}", "channel", channel, "nonce", hexn, "mac", hex);
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	r = peer_send_json(c, m);
	if (r < 0)
		goto out;
	json_decref(m);
	m = NULL;

	r = peer_recv_json(c, &m);
	if (r < 0)
		goto out;
	ok = json_object_get(m, "ok");
	if (!json_is_boolean(ok)) {
		r = -EPROTO;
		goto out;
	}
	if (!json_is_true(ok)) {
		r = -EACCES;
		goto out;
	}
	if (peer_hex_decode(json_string_value(json_object_get(m, "mac")), got, sizeof(got)) < 0) {
		r = -EPROTO;
		goto out;
	}
	r = peer_mac(secret, secret_len, peer_label_server, nc, ns, channel, mac);
	if (r < 0)
		goto out;
	/* The server proves it knows the secret too; otherwise anyone could accept
	 * our migration. */
	if (CRYPTO_memcmp(mac, got, sizeof(mac)) != 0)
		r = -EACCES;
	else
		r = seal_start(c, secret, secret_len, ns, nc, channel, true);
out:
	json_decref(m);
	return r;
}

/* Tell the client why it is refused before the caller drops the connection; the
 * send is best effort because the connection is going away anyway. */
static void peer_auth_refuse(struct peer_conn *c, const char *why)
{
	json_t *m = json_pack("{s:b, s:s}", "ok", 0, "error", why);

	if (m)
		peer_send_json(c, m);
	json_decref(m);
}

int peer_auth_server(struct peer_conn *c, const void *secret, size_t secret_len,
		     char *channel_out)
{
	unsigned char ns[PEER_NONCE_LEN], nc[PEER_NONCE_LEN];
	unsigned char mac[PEER_MAC_LEN], got[PEER_MAC_LEN];
	char hex[2 * PEER_MAC_LEN + 1];
	char channel[PEER_CHANNEL_MAX + 1];
	const char *ch;
	json_t *m = NULL;
	int r;

	if (!c || c->fd < 0 || !peer_secret_ok(secret, secret_len) || !channel_out)
		return -EINVAL;
	channel_out[0] = '\0';
	r = random_bytes(ns, sizeof(ns));
	if (r < 0)
		goto out;
	hex_encode(ns, sizeof(ns), hex);
	m = json_pack("{s:s, s:i, s:s, s:s?}", "hello", "hauld", "version", PEER_PROTO_VERSION,
		      "nonce", hex, "instance", peer_instance[0] ? peer_instance : NULL);
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	r = peer_send_json(c, m);
	if (r < 0)
		goto out;
	json_decref(m);
	m = NULL;

	r = peer_recv_json(c, &m);
	if (r < 0)
		goto out;
	ch = json_string_value(json_object_get(m, "channel"));
	if (!peer_channel_ok(ch) ||
	    peer_hex_decode(json_string_value(json_object_get(m, "nonce")), nc, sizeof(nc)) < 0 ||
	    peer_hex_decode(json_string_value(json_object_get(m, "mac")), got, sizeof(got)) < 0) {
		peer_auth_refuse(c, "malformed authentication message");
		r = -EPROTO;
		goto out;
	}
	snprintf(channel, sizeof(channel), "%s", ch);
	json_decref(m);
	m = NULL;

	r = peer_mac(secret, secret_len, peer_label_client, ns, nc, channel, mac);
	if (r < 0)
		goto out;
	if (CRYPTO_memcmp(mac, got, sizeof(mac)) != 0) {
		peer_auth_refuse(c, "authentication failed");
		r = -EACCES;
		goto out;
	}
	r = peer_mac(secret, secret_len, peer_label_server, nc, ns, channel, mac);
	if (r < 0)
		goto out;
	hex_encode(mac, sizeof(mac), hex);
	m = json_pack("{s:b, s:s}", "ok", 1, "mac", hex);
	if (!m) {
		r = -ENOMEM;
		goto out;
	}
	r = peer_send_json(c, m);
	if (r < 0)
		goto out;
	r = seal_start(c, secret, secret_len, ns, nc, channel, false);
	if (r < 0)
		goto out;
	snprintf(channel_out, PEER_NAME_MAX, "%s", channel);
out:
	json_decref(m);
	return r;
}

/* ---- connecting ---- */

/* Connect one address within the deadline; returns a non-blocking fd or -errno. */
static int peer_connect_one(const struct addrinfo *ai, int64_t deadline)
{
	int fd = -1, r = 0, err = 0;
	socklen_t elen = sizeof(err);

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    ai->ai_protocol);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		goto out;
	if (errno != EINPROGRESS && errno != EINTR) {
		r = -errno;
		goto out;
	}
	r = peer_wait(fd, POLLOUT, deadline);
	if (r < 0)
		goto out;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0) {
		r = -errno;
		goto out;
	}
	if (err != 0)
		r = -err;
out:
	if (r < 0 && fd >= 0)
		close(fd);
	return r < 0 ? r : fd;
}

static int peer_dead_s = PEER_DEAD_S;

void peer_dead_set(int seconds)
{
	if (seconds >= 5 && seconds <= 600)
		peer_dead_s = seconds;
}

int peer_sock_tune(int fd)
{
	/* Keepalive probes from half the bound on, every 2.5 s at most: a dead link is
	 * noticed within the bound, by them or by the unacknowledged data. */
	int one = 1, idle = peer_dead_s / 2, intvl = peer_dead_s >= 20 ? 5 : 2;
	int cnt = (peer_dead_s - idle) / intvl;
	unsigned int user_ms = (unsigned int)peer_dead_s * 1000;

	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_ms, sizeof(user_ms)) < 0)
		return -errno;
	return 0;
}

int peer_conn_alive(const struct peer_conn *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLIN | POLLRDHUP };

	if (c->fd < 0)
		return 0;
	if (poll(&p, 1, 0) < 0)
		return 1;
	return (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) ? 0 : 1;
}

int peer_connect(const char *hostport, int timeout_ms)
{
	char host[256], portstr[8];
	struct addrinfo hints, *res = NULL, *ai;
	int64_t deadline;
	int port = 0, fd = -1, r, fl, err;

	if (timeout_ms <= 0)
		timeout_ms = PEER_DEFAULT_TIMEOUT;
	r = hostport_parse(hostport, host, sizeof(host), &port, 0);
	if (r < 0)
		return -EINVAL;
	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = AI_NUMERICSERV;
	/* Resolution counts against timeout_ms but cannot be cut short: getaddrinfo
	 * has no timeout of its own. */
	deadline = time_mono_ms() + timeout_ms;
	r = getaddrinfo(host, portstr, &hints, &res);
	if (r != 0) {
		err = errno;
		log_warnx("peer: cannot resolve %s: %s", host,
			  r == EAI_SYSTEM ? strerror(err) : gai_strerror(r));
		if (r == EAI_SYSTEM)
			r = err ? -err : -EHOSTUNREACH;
		else if (r == EAI_MEMORY)
			r = -ENOMEM;
		else if (r == EAI_AGAIN)
			r = -EAGAIN;
		else
			r = -EHOSTUNREACH;
		res = NULL;
		goto out;
	}
	r = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = peer_connect_one(ai, deadline);
		if (fd >= 0)
			break;
		r = fd;
		if (r == -ETIMEDOUT)
			break;
	}
	if (fd < 0)
		goto out;
	r = peer_sock_tune(fd);
	if (r < 0)
		goto out;
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		r = -errno;
		goto out;
	}
	r = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd);
	if (res)
		freeaddrinfo(res);
	return r;
}
