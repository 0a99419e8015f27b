/* relay.c: CRIU's stream over a sealed peer connection (see relay.h). One thread a
 * relay. Toward CRIU it writes without blocking, keeping what CRIU has not taken
 * yet and reading no more from the peer meanwhile; toward the peer it sends
 * frames within the connection's timeout. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "peer_int.h"
#include "relay.h"

#define RELAY_CHUNK PEER_MAX_FRAME   /* bytes of CRIU's stream in one frame at most */

struct relay {
	struct peer_conn *c;
	int fd;                      /* our end of CRIU's socketpair */
	int wake[2];                 /* a byte here: look at stop */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cond;
	bool go, stop, done, started;
	int ret;                     /* the stream's outcome, once done */
	bool criu_eof, sent_end, got_end;
	unsigned char *out;          /* a chunk from CRIU */
	const unsigned char *in;     /* a frame's bytes for CRIU: in the connection's
	                                buffer, which no frame overwrites before CRIU
	                                has taken them (no more is read meanwhile) */
	size_t in_len, in_off;       /* what of in CRIU has not taken yet */
	long long n_out, n_in;
	char why[200];               /* what the other side said when it gave up */
};

static int send_end(struct relay *r)
{
	if (r->sent_end)
		return 0;
	r->sent_end = true;
	return peer_send_frame(r->c, PEER_FT_STREAM_END, NULL, 0);
}

/* n bytes of CRIU's stream in r->out to the peer: compressed (ZSTREAM) when the
 * connection compresses and it paid, else raw (STREAM). */
static int send_chunk(struct relay *r, size_t n)
{
	const void *p;
	size_t len;
	int z = peer_pack(r->c, r->out, n, &p, &len);

	if (z < 0)
		return z;
	r->n_out += (long long)n;
	r->c->raw_sent += n;
	return peer_send_frame(r->c, z ? PEER_FT_ZSTREAM : PEER_FT_STREAM, p, len);
}

/* CRIU has something for the peer, or has closed its socket. When compressing,
 * what CRIU has written so far is gathered into one chunk (up to a frame), since
 * larger chunks compress better; nothing waits for more. */
static int from_criu(struct relay *r)
{
	size_t got = 0;
	ssize_t n;

	do {
		n = read(r->fd, r->out + got, RELAY_CHUNK - got);
		if (n > 0)
			got += (size_t)n;
	} while (n > 0 && r->c->z && got < RELAY_CHUNK);
	if (got > 0)
		return send_chunk(r, got);    /* an end that came with it is seen next */
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	r->criu_eof = true;
	return send_end(r);
}

/* A frame from the peer: bytes for CRIU, or the end of its stream. */
static int from_peer(struct relay *r)
{
	uint8_t type;
	size_t len;
	int ret;

	ret = peer_recv_header(r->c, &type, &len);
	if (ret < 0)
		return ret;
	if (type == PEER_FT_JSON && len <= PEER_MAX_JSON) {
		/* The other side gave up on the stream, and says why. */
		json_t *m = NULL;
		const char *w;

		ret = peer_recv_json_payload(r->c, len, &m);
		w = json_string_value(json_object_get(m, "stream_error"));
		snprintf(r->why, sizeof(r->why), "%s", w ? w : "no reason given");
		json_decref(m);
		return ret < 0 ? ret : -EREMOTEIO;
	}
	if (type == PEER_FT_STREAM_END && len == 0) {
		r->got_end = true;
		shutdown(r->fd, SHUT_WR);
		return send_end(r);
	}
	if (!(type == PEER_FT_STREAM || (type == PEER_FT_ZSTREAM && r->c->z)) ||
	    len > PEER_MAX_FRAME)
		return -EPROTO;
	if (len == 0)
		return type == PEER_FT_STREAM ? 0 : -EPROTO;
	ret = peer_recv_view(r->c, (const void **)&r->in, len);
	if (ret < 0)
		return ret;
	if (type == PEER_FT_ZSTREAM) {
		/* Into the codec's buffer, which nothing overwrites before CRIU has
		 * taken it: no frame is read meanwhile. */
		const void *p;

		ret = zframe_unpack(r->c->z, r->in, len, PEER_MAX_FRAME, &p, &len);
		if (ret < 0)
			return -EILSEQ;
		r->in = p;
	}
	r->n_in += (long long)len;
	r->c->raw_received += len;
	r->in_len = len;
	r->in_off = 0;
	return 0;
}

/* Give CRIU what it will take now. A CRIU that has gone takes nothing more: what
 * was for it is dropped (the stream's end will come). */
static void to_criu(struct relay *r)
{
	while (r->in_off < r->in_len) {
		ssize_t n = write(r->fd, r->in + r->in_off, r->in_len - r->in_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			r->in_off = r->in_len;
			return;
		}
		r->in_off += (size_t)n;
	}
}

static void *relay_main(void *arg)
{
	struct relay *r = arg;
	int ret = 0;

	pthread_mutex_lock(&r->mu);
	while (!r->go && !r->stop)
		pthread_cond_wait(&r->cond, &r->mu);
	if (!r->go)
		ret = -ECANCELED;
	pthread_mutex_unlock(&r->mu);
	while (ret == 0 && !(r->sent_end && r->got_end)) {
		bool pending = r->in_off < r->in_len;
		bool criu_in = !r->criu_eof;
		struct pollfd p[3] = {
			{ .fd = r->wake[0], .events = POLLIN },
			{ .fd = pending ? -1 : r->c->fd, .events = POLLIN },
			/* Once CRIU has closed and is owed nothing, its socket (which
			 * stays readable at its end) is not watched. */
			{ .fd = criu_in || pending ? r->fd : -1,
			  .events = (criu_in ? POLLIN : 0) | (pending ? POLLOUT : 0) },
		};

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			ret = -errno;
			break;
		}
		if (p[0].revents) {
			ret = -ECANCELED;
			break;
		}
		if (p[2].revents & (POLLOUT | POLLERR | POLLHUP))
			to_criu(r);
		if (!r->criu_eof && (p[2].revents & (POLLIN | POLLHUP | POLLERR)))
			ret = from_criu(r);
		if (ret == 0 && !pending && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ret = from_peer(r);
			if (ret == 0)
				to_criu(r);
		}
	}
	/* A send that found the connection closed: the other side may have said why
	 * before it closed, and that is worth a short look. */
	if (ret == -EPIPE && !r->got_end) {
		int saved = r->c->timeout_ms, ret2;

		r->c->timeout_ms = 1000;
		r->in_len = r->in_off = 0;
		do {
			ret2 = from_peer(r);
		} while (ret2 == 0 && !r->got_end);
		r->c->timeout_ms = saved;
		if (ret2 == -EREMOTEIO)
			ret = ret2;
	}
	/* CRIU must not wait on a stream that has gone: its socket ends here. */
	shutdown(r->fd, SHUT_RDWR);
	if (ret < 0 && ret != -ECANCELED && ret != -EREMOTEIO) {
		/* Tell the other side why (a frame that did not open: nothing more of
		 * this connection can be trusted) and end the connection, so that its
		 * CRIU stops at once instead of filling the socket. */
		const char *w = ret == -EBADMSG ? "a frame of the page stream did not open "
			"(changed, replayed or dropped on the way)" :
			ret == -EILSEQ ? "a compressed frame of the page stream did not "
			"decompress within its bounds (not one zstd frame of at most 1 MiB)" :
			strerror(-ret);
		json_t *m = json_pack("{s:s}", "stream_error", w);

		log_warnx("relay: the page stream failed: %s", w);
		if (m && ret != -EPIPE)
			peer_send_json(r->c, m);
		json_decref(m);
		snprintf(r->why, sizeof(r->why), "%s", w);
		shutdown(r->c->fd, SHUT_RDWR);
	}
	pthread_mutex_lock(&r->mu);
	r->ret = ret;
	r->done = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

static void relay_free(struct relay *r)
{
	if (r->fd >= 0)
		close(r->fd);
	if (r->wake[0] >= 0)
		close(r->wake[0]);
	if (r->wake[1] >= 0)
		close(r->wake[1]);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mu);
	free(r->out);
	free(r);
}

int relay_open(struct peer_conn *c, bool start, int *criu_fd, struct relay **out)
{
	struct relay *r;
	int sv[2], ret;

	if (!c || c->fd < 0 || !criu_fd || !out)
		return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->c = c;
	r->fd = r->wake[0] = r->wake[1] = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->out = malloc(RELAY_CHUNK);
	if (!r->out || pipe2(r->wake, O_CLOEXEC | O_NONBLOCK) < 0) {
		relay_free(r);
		return -ENOMEM;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		ret = -errno;
		relay_free(r);
		return ret;
	}
	r->fd = sv[0];
	fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
	r->go = start;
	if (pthread_create(&r->th, NULL, relay_main, r) != 0) {
		close(sv[1]);
		relay_free(r);
		return -EAGAIN;
	}
	r->started = true;
	*criu_fd = sv[1];
	*out = r;
	return 0;
}

int relay_go(struct relay *r)
{
	if (!r)
		return -EINVAL;
	pthread_mutex_lock(&r->mu);
	r->go = true;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->mu);
	return 0;
}

int relay_finish(struct relay *r, int timeout_ms, char *why, size_t whylen)
{
	struct timespec ts;
	int ret, w = 0;

	if (!r)
		return 0;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&r->mu);
	while (!r->done && r->go && w != ETIMEDOUT)
		w = pthread_cond_timedwait(&r->cond, &r->mu, &ts);
	if (!r->done) {
		/* Late, or never let go: stop it. A send or read it is in ends with the
		 * connection, which cannot be trusted to be in step any more. */
		r->stop = true;
		pthread_cond_broadcast(&r->cond);
		if (write(r->wake[1], "x", 1) < 0) {
			/* the pipe is full: the thread is waking already */
		}
		if (r->go)
			shutdown(r->c->fd, SHUT_RDWR);
	}
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->th, NULL);
	ret = r->done && r->ret == 0 ? 0 : w == ETIMEDOUT ? -ETIMEDOUT : r->ret ? r->ret : -ECANCELED;
	if (why && whylen)
		snprintf(why, whylen, "%s", r->why[0] ? r->why : ret < 0 ? strerror(-ret) : "");
	relay_free(r);
	return ret;
}

void relay_counts(const struct relay *r, long long *out, long long *in)
{
	*out = r ? r->n_out : 0;
	*in = r ? r->n_in : 0;
}
