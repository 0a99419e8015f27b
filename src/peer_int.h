/* peer_int.h: the framing internals peer.c lends to peer_files.c. Private to
 * src/peer*.c and no contract: the contract is include/peer.h. Everything here is
 * defined in peer.c and returns 0 or a negative errno as peer.h describes. */
#ifndef HAULD_PEER_INT_H
#define HAULD_PEER_INT_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "peer.h"

/* Receive exactly len bytes within the connection's timeout. */
int peer_recv_all(struct peer_conn *c, void *buf, size_t len);
/* Sealed connections: the rest of the opened frame's payload (len bytes, all of
 * it) in place, valid until the next frame is read. -EPROTO otherwise. */
int peer_recv_view(struct peer_conn *c, const void **p, size_t len);
/* Read and check a frame header; *len is at most PEER_MAX_FRAME. */
int peer_recv_header(struct peer_conn *c, uint8_t *type, size_t *len);
/* Send m (borrowed; NULL is -ENOMEM) as a frame of type. */
int peer_send_json_frame(struct peer_conn *c, uint8_t type, json_t *m);
/* Read an n-byte payload as a JSON object; *out is a new reference. */
int peer_recv_json_payload(struct peer_conn *c, size_t n, json_t **out);
/* A chunk of CRIU's stream or of a file, compressed when c compresses and it pays
 * (zframe_pack: 1, *out in the codec's buffer), else 0 and *out is in. AUTO is
 * told first how the link does (zframe_link_sample): what waits in the socket,
 * and what the peer has acknowledged. */
int peer_pack(struct peer_conn *c, const void *in, size_t n, const void **out, size_t *outlen);
/* Decode exactly 2*len lower-case hex digits into out; -EPROTO otherwise. */
int peer_hex_decode(const char *s, unsigned char *out, size_t len);

#endif
