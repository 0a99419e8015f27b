/* fuzz_peer.c: libFuzzer harness for what a peer sends, before and after it has
 * authenticated. The first byte chooses:
 *   0: the input is what a client wrote before the handshake, which a destination
 *      answers (peer_auth_server);
 *   1, 2: a real handshake between two ends of a socket pair first, then the rest
 *      of the input as frames (a type byte, a 16-bit length, the payload) sealed
 *      by the authenticated client, so that what a compromised peer could send
 *      reaches the decoders behind the seal: JSON messages (peer_recv_json), or a
 *      file transfer into a directory (peer_recv_dir: names, sizes, counts,
 *      digests);
 *   3: the same frames written raw after the handshake: the seal must refuse them.
 * In case 2, bit 2 of the first byte has the receiver accept compressed frames
 * (ZDATA), so that the decoder's bounds (zframe.c) meet what a peer may send. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "peer.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char secret[] = "fuzzing secret, 32 bytes at least";

struct client {
	struct peer_conn c;
	int ret;
};

static void *client_auth(void *arg)
{
	struct client *cl = arg;

	cl->ret = peer_auth_client(&cl->c, secret, strlen(secret), "control");
	return NULL;
}

/* A pair of connected ends, authenticated to each other: *srv reads what cl sends. */
static int sealed_pair(struct peer_conn *srv, struct client *cl)
{
	char channel[PEER_NAME_MAX];
	pthread_t t;
	int sv[2], ret;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	peer_conn_init(srv, sv[0], 2000);
	peer_conn_init(&cl->c, sv[1], 2000);
	if (pthread_create(&t, NULL, client_auth, cl) != 0) {
		peer_conn_release(srv);
		peer_conn_release(&cl->c);
		return -1;
	}
	ret = peer_auth_server(srv, secret, strlen(secret), channel);
	pthread_join(t, NULL);
	if (ret < 0 || cl->ret < 0) {
		/* The handshake between two honest ends cannot fail. */
		abort();
	}
	return 0;
}

/* Send the input's frames from the client, sealed or raw, then close its end.
 * Everything fits the socket's buffer (inputs are small, frames few). */
static void send_frames(struct client *cl, const uint8_t *p, size_t n, int raw)
{
	int frames = 0;

	while (n >= 3 && frames++ < 256) {
		uint8_t type = p[0];
		size_t len = (size_t)p[1] | (size_t)p[2] << 8;

		p += 3;
		n -= 3;
		if (len > n)
			len = n;
		if (raw) {
			if (write(cl->c.fd, p - 3, len + 3) < 0)
				break;
		} else if (peer_send_frame(&cl->c, type, p, len) < 0) {
			break;
		}
		p += len;
		n -= len;
	}
	peer_conn_release(&cl->c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char channel[PEER_NAME_MAX], dir[] = "/tmp/hauld-fuzz-XXXXXX";
	struct peer_conn c;
	struct client cl;
	json_t *m = NULL;
	int sv[2], dfd;

	if (size < 1 || size > 60000)
		return 0;
	switch (data[0] % 4) {
	case 0:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			break;
		if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
			close(sv[0]);
			close(sv[1]);
			break;
		}
		close(sv[1]);
		peer_conn_init(&c, sv[0], 200);
		peer_auth_server(&c, secret, strlen(secret), channel);
		peer_conn_release(&c);
		break;
	case 1:
	case 3:
		if (sealed_pair(&c, &cl) < 0)
			break;
		send_frames(&cl, data + 1, size - 1, data[0] % 4 == 3);
		while (peer_recv_json(&c, &m) == 0) {
			json_decref(m);
			m = NULL;
		}
		peer_conn_release(&c);
		break;
	default:
		if (!mkdtemp(dir))
			break;
		dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0 && sealed_pair(&c, &cl) == 0) {
			if ((data[0] & 4) && peer_compress_enable(&c, ZFRAME_ON) < 0)
				abort();
			send_frames(&cl, data + 1, size - 1, 0);
			peer_recv_dir(&c, dfd, NULL, NULL);
			peer_conn_release(&c);
		}
		if (dfd >= 0)
			close(dfd);
		rm_rf(dir);
		break;
	}
	return 0;
}
