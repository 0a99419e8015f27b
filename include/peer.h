/* peer.h: the framing and authentication of the peer protocol between two hauld
 * daemons (api/peer-protocol.md). Operations (what the frames mean) live in the
 * migration engine; this module only moves frames, authenticates (src/peer.c) and
 * moves files (src/peer_files.c).
 *
 * A frame is a 12-byte header { magic "HLD1"(4), version(1), type(1), reserved(2),
 * length(4, big endian) } and length bytes of payload, length <= PEER_MAX_FRAME.
 * After the handshake every frame is sealed: its payload is encrypted with
 * AES-256-GCM under a key of the connection and direction (derived from the secret
 * and both nonces), the header is authenticated with it, the nonce is the frame's
 * number in its direction, and PEER_TAG_LEN bytes of tag follow the payload. A
 * frame changed, dropped, replayed or taken from another connection fails to open
 * (-EBADMSG), and the connection with it.
 * Every wait has the connection's timeout. Functions return 0 or a negative errno:
 * -ETIMEDOUT, -EPIPE (peer closed), -EPROTO (malformed frame or message),
 * -EACCES (authentication failed), -EMSGSIZE (frame too large); the client's
 * handshake also -ENOMSG (the port is not a hauld peer port: no hauld greeting
 * within PEER_GREET_MS) and -ELOOP (the peer is this daemon itself). */
#ifndef HAULD_PEER_H
#define HAULD_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "zframe.h"

#define PEER_PROTO_VERSION 2              /* 2: sealed frames */
#define PEER_TAG_LEN       16
#define PEER_MAX_FRAME     (1024 * 1024)
#define PEER_MAX_JSON      (64 * 1024)
#define PEER_MAX_FILES     4096           /* files in one transfer */
#define PEER_MAX_FILE_SIZE (16LL << 30)   /* one image file */
#define PEER_NAME_MAX      128
#define PEER_GREET_MS      5000           /* a hauld greets a client at once */
#define PEER_INSTANCE_LEN  32             /* hex digits of a daemon's instance id */

enum peer_frame_type {
	PEER_FT_JSON = 1,       /* a JSON object (UTF-8), at most PEER_MAX_JSON */
	PEER_FT_FILE = 2,       /* starts a file: JSON {"name","size","mode"} */
	PEER_FT_DATA = 3,       /* bytes of the current file */
	PEER_FT_FILE_END = 4,   /* ends the current file: JSON {"sha256": hex} */
	PEER_FT_FILES_END = 5,  /* ends a transfer: JSON {"files": n, "bytes": n} */
	PEER_FT_STREAM = 6,     /* bytes of a CRIU stream on its way (src/relay.c) */
	PEER_FT_STREAM_END = 7, /* this direction of the stream has ended (no payload) */
	PEER_FT_ZSTREAM = 8,    /* as STREAM, compressed (zframe.h); only once negotiated */
	PEER_FT_ZDATA = 9,      /* as DATA, compressed (zframe.h); only once negotiated */
};

struct peer_seal;

struct peer_conn {
	int fd;
	int timeout_ms;         /* for every single wait; default 30000 */
	int64_t deadline;       /* monotonic ms no wait goes past (0: none): a whole
	                           exchange, such as the handshake, within a bound */
	uint64_t bytes_sent, bytes_received;
	struct peer_seal *seal; /* the keys and counters once authenticated, else NULL */
	struct zframe *z;       /* compression, both ways, once the job negotiated it
	                           (peer_compress_enable); NULL: none is sent, and a
	                           compressed frame that arrives is refused (-EPROTO) */
	uint64_t raw_sent;      /* bytes of CRIU's stream and of files sent, before
	                           compression */
	uint64_t raw_received;  /* and received, after decompression */
};

void peer_conn_init(struct peer_conn *c, int fd, int timeout_ms);
/* Close the fd (when >= 0) and forget the keys. */
void peer_conn_release(struct peer_conn *c);
/* Hand the connection (fd, keys, codec) from src to dst; src is left empty. */
void peer_conn_move(struct peer_conn *dst, struct peer_conn *src);
/* From now on c sends CRIU's stream and files compressed as mode says (ZSTREAM,
 * ZDATA frames) and accepts them compressed. Both ends must have agreed (the
 * job's prepare, api/peer-protocol.md): a peer that did not refuses these frames.
 * -ENOMEM; a second call keeps the first codec and its counts. */
int peer_compress_enable(struct peer_conn *c, enum zframe_mode mode);

/* Connect over TCP to "HOST:PORT" within timeout_ms; returns an fd or -errno. The
 * socket is tuned as peer_sock_tune does. */
int peer_connect(const char *hostport, int timeout_ms);

/* Tune a peer connection (either end): no Nagle delay; keepalive probes, so that a
 * peer host that vanishes while we wait on a long dump or restore is noticed; and
 * a user timeout, so that data the peer neither acknowledges nor makes room for
 * (a host gone mid-stream, a page server that stopped reading) fails the
 * connection instead of blocking CRIU. Both limits are PEER_DEAD_S seconds. */
#define PEER_DEAD_S 30
/* Another bound than PEER_DEAD_S for connections made from now on (5-600 s). */
void peer_dead_set(int seconds);
int peer_sock_tune(int fd);
/* 0 when the other end has closed or reset the connection (nothing read), else 1. */
int peer_conn_alive(const struct peer_conn *c);

int peer_send_frame(struct peer_conn *c, uint8_t type, const void *buf, size_t len);
/* Receive one frame into buf (cap bytes); -EMSGSIZE when it does not fit. */
int peer_recv_frame(struct peer_conn *c, uint8_t *type, void *buf, size_t cap, size_t *len);

/* Send msg (borrowed) as a JSON frame. */
int peer_send_json(struct peer_conn *c, json_t *msg);
/* Receive a JSON frame holding an object; *out is a new reference. Any other frame
 * type is -EPROTO. */
int peer_recv_json(struct peer_conn *c, json_t **out);

/* This daemon's instance id (PEER_INSTANCE_LEN hex digits, random at start), which
 * the server's greeting carries so that a client can tell it reached itself. Set
 * once before any connection; unset (""), nothing is sent and nothing is checked. */
void peer_instance_set(const char *id);
const char *peer_instance_get(void);

/* Mutual challenge-response with HMAC-SHA256 over nonces; the secret never crosses
 * the wire. The client names the channel ("control" or "memory") and the server
 * learns it in channel_out (PEER_NAME_MAX bytes). */
int peer_auth_client(struct peer_conn *c, const void *secret, size_t secret_len,
		     const char *channel);
int peer_auth_server(struct peer_conn *c, const void *secret, size_t secret_len,
		     char *channel_out);

/* 1 when name may be an image file name: [A-Za-z0-9][A-Za-z0-9._-]{0,127}, no "..". */
int peer_name_ok(const char *name);

/* Send every regular file of directory dirfd (not recursive), then FILES_END.
 * *files and *bytes (may be NULL) get what was sent. */
int peer_send_dir(struct peer_conn *c, int dirfd, int *files, int64_t *bytes);
/* Receive files into directory dirfd until FILES_END. Names are checked with
 * peer_name_ok, files are created with O_EXCL|O_NOFOLLOW, sizes and hashes are
 * checked; nothing is written outside dirfd. */
int peer_recv_dir(struct peer_conn *c, int dirfd, int *files, int64_t *bytes);
/* The same with smaller bounds: at most max_files files (-E2BIG past it) and
 * max_bytes in all (-EFBIG for the file that would pass it, before its data). */
int peer_recv_dir_max(struct peer_conn *c, int dirfd, int max_files, int64_t max_bytes,
		      int *files, int64_t *bytes);

#endif
